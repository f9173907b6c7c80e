import type { ParityReport, ParityResult } from './report.js';
import { escapeHtml } from './svg-plots.js';

const DTYPE_SUFFIX = /-(float64|float32|bfloat16|float16)$/;

/** Scenario name without its dtype, so the same scenario lines up across backends of different dtypes. */
export function scenarioFamily(scenario: string): string {
  return scenario.replace(DTYPE_SUFFIX, '');
}

/** The colour scale's low end: ratios at or below 10⁻⁴ of the tolerance share the greenest colour. */
const LOW_DECADES = 4;
const EXACT_COLOUR = '#1b7a3e';
const FAIL_COLOUR = '#d62728';
const CRASH_COLOUR = '#5c0011';
/** A pass above 1: the tolerance allows a fraction of elements outside (`maxFractionOutside`). */
const ALLOWED_OUTLIERS_COLOUR = '#f2a03d';
const NOT_RUN_COLOUR = '#ececec';

/** Colour of a passing ratio in (0, 1]: green far under the tolerance, turning yellow towards it (log scale). */
export function passColour(ratio: number): string {
  const t = Math.min(1, Math.max(0, (Math.log10(ratio) + LOW_DECADES) / LOW_DECADES));
  return `hsl(${Math.round(125 - 70 * t)}, 62%, ${Math.round(50 + 8 * t)}%)`;
}

/** The cell's fill: a crash, a failure, exact, the pass scale, or a pass above 1 (allowed outliers). */
export function cellColour(r: Pick<ParityResult, 'pass' | 'worstErrorOverLimit' | 'maxAbsError'>): string {
  if (r.maxAbsError === null) return CRASH_COLOUR;
  if (!r.pass) return FAIL_COLOUR;
  const ratio = r.worstErrorOverLimit ?? Number.POSITIVE_INFINITY;
  if (ratio === 0) return EXACT_COLOUR;
  return ratio <= 1 ? passColour(ratio) : ALLOWED_OUTLIERS_COLOUR;
}

/** A ratio in a few characters: "exact", "3e-5", "0.42", "17"; null (crash or infinite) is "∞". */
export function formatRatio(ratio: number | null): string {
  if (ratio === null || !Number.isFinite(ratio)) return '∞';
  if (ratio === 0) return 'exact';
  if (ratio < 0.01) return ratio.toExponential(0);
  return ratio < 100 ? String(Number(ratio.toPrecision(2))) : ratio.toExponential(0).replace('e+', 'e');
}

function cellText(r: ParityResult): string {
  if (r.maxAbsError === null) return 'crash';
  return r.pass ? formatRatio(r.worstErrorOverLimit) : `✗${formatRatio(r.worstErrorOverLimit)}`;
}

function cellTitle(r: ParityResult): string {
  return (
    `${r.backend} × ${r.scenario} vs ${r.against}: ${r.pass ? 'pass' : 'FAIL'}; worst error ÷ tolerance ` +
    `${r.worstErrorOverLimit ?? '∞'}; max abs ${r.maxAbsError}, max rel ${r.maxRelError}, max ulp ${r.maxUlp}` +
    (r.failure ? ` — ${r.failure}` : '')
  );
}

/** The legend: the colour scale from exact to the pass line (error = tolerance), then fail, crash and not run. */
export function legend(): string {
  const stops = Array.from({ length: LOW_DECADES + 1 }, (_, i) => passColour(10 ** (i - LOW_DECADES)));
  const ticks = stops.map((_, i) => `<span>${i === LOW_DECADES ? '1' : `10<sup>${i - LOW_DECADES}</sup>`}</span>`);
  const key = (colour: string, text: string) => `<span class="key"><i style="background:${colour}"></i>${text}</span>`;
  return (
    '<div class="legend" id="legend"><span class="legend-title">worst error ÷ tolerance:</span>' +
    key(EXACT_COLOUR, 'exact (0)') +
    `<span class="scale"><span class="ramp" style="background:linear-gradient(to right,${stops.join(',')})"></span>` +
    `<span class="ticks">${ticks.join('')}</span></span>` +
    '<span class="pass-line">◀ pass line: error = tolerance</span>' +
    key(FAIL_COLOUR, '&gt; 1: fail') +
    key(CRASH_COLOUR, 'crashed') +
    key(ALLOWED_OUTLIERS_COLOUR, 'pass, outliers allowed') +
    key(NOT_RUN_COLOUR, 'not run') +
    '</div>'
  );
}

/**
 * Pass/fail per backend × scenario family, each cell coloured and labelled by its worst error ÷
 * tolerance; skipped backends keep a row that says why.
 */
export function summaryGrid(report: ParityReport): string {
  const families = [...new Set(report.results.map((r) => scenarioFamily(r.scenario)))];
  const lookup = new Map(report.results.map((r) => [`${r.backend}\u0000${scenarioFamily(r.scenario)}`, r]));
  const head = families.map((f) => `<th class="v"><span>${escapeHtml(f)}</span></th>`).join('');
  const rows = report.backends.map((b) => {
    const label = `<th>${escapeHtml(b.id)}</th><td>${b.environment ?? ''}</td>`;
    if (!b.available) {
      const why = `${b.optional ? 'optional, ' : ''}skipped: ${b.reason ?? ''}`;
      return `<tr class="skipped">${label}<td>—</td><td colspan="${families.length}" class="why">${escapeHtml(why)}</td></tr>`;
    }
    const mine = report.results.filter((r) => r.backend === b.id);
    const passed = mine.filter((r) => r.pass).length;
    const cells = families.map((f) => {
      const r = lookup.get(`${b.id}\u0000${f}`);
      if (!r)
        return `<td class="cell" style="background:${NOT_RUN_COLOUR}" title="${escapeHtml(`${b.id} × ${f}: not run`)}"></td>`;
      const dark = !r.pass || r.maxAbsError === null || r.worstErrorOverLimit === 0;
      return `<td class="cell${dark ? ' dark' : ''}" style="background:${cellColour(r)}" title="${escapeHtml(cellTitle(r))}">${cellText(r)}</td>`;
    });
    const status = passed === mine.length ? 'ok' : 'fail';
    return `<tr class="${status}">${label}<td class="passed">${passed}/${mine.length}</td>${cells.join('')}</tr>`;
  });
  return `<table class="grid" id="summary-grid"><thead><tr><th>backend</th><th>where</th><th>passed</th>${head}</tr></thead><tbody>${rows.join('')}</tbody></table>`;
}
