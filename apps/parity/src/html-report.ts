import { BACKEND_SUMMARY_HEADER, backendSummaryRows, worstOverLimitByBackend } from './backend-summary.js';
import { FILTER_SCRIPT, filterableTable } from './filter-table.js';
import { formatNumber, formatUlp, type ParityReport, type ParityResult } from './report.js';
import { groupIdenticalSeries } from './series-groups.js';
import { formatRatio, legend, summaryGrid } from './summary-grid.js';
import { escapeHtml, isExact, lineChart } from './svg-plots.js';

const CSS = `
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;padding:16px 20px;color:#222;max-width:1240px}
h1{font-size:21px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.verdict{font-size:17px;font-weight:600;margin:4px 0;color:#1b7a3e}.verdict.fail{color:#d62728}
.meta{color:#555;margin:2px 0 10px}
table{border-collapse:collapse;font-size:12px;max-width:100%}
td,th{border:1px solid #ccc;padding:2px 6px;text-align:left;overflow-wrap:break-word}
.grid td,.grid th{padding:2px 4px;white-space:nowrap}
.grid th.v{vertical-align:bottom;padding:4px 2px}
.grid th.v span{writing-mode:vertical-rl;transform:rotate(180deg);font-weight:500}
.grid td.cell{min-width:34px;text-align:center;font-size:11px;font-variant-numeric:tabular-nums}
.grid td.cell.dark{color:#fff}
.grid tr.fail th{color:#d62728}.grid tr.skipped{color:#777}
td.why{white-space:normal;background:#f6f6f6;font-style:italic;color:#555}
.legend{display:flex;flex-wrap:wrap;align-items:center;gap:6px 14px;font-size:12px;margin:8px 0}
.legend .key i{display:inline-block;width:14px;height:14px;vertical-align:-3px;margin-right:4px;border:1px solid #999}
.legend .scale{display:inline-flex;flex-direction:column;width:220px}
.legend .ramp{height:14px;border:1px solid #999;border-right:4px solid #000}
.legend .ticks{display:flex;justify-content:space-between;font-size:10px}
.legend .pass-line{font-weight:600}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(580px,1fr));gap:16px}
figure.chart{margin:0}figure.chart figcaption{font-weight:600;font-size:12px;margin-bottom:2px}
figure.chart svg{max-width:100%;height:auto}
ul.legend{list-style:none;padding:0;margin:2px 0 0;display:flex;flex-wrap:wrap;gap:2px 12px;font-size:11px}
ul.legend i{display:inline-block;width:10px;height:10px;margin-right:4px}
b.exact{color:#1b7a3e;font-weight:600}
.tick,.label{font-size:10px;fill:#333}.tick.exact{fill:#1b7a3e;font-weight:600}
.frame{fill:none;stroke:#999}line.gridline{stroke:#eee}.floor{stroke:#1b7a3e;stroke-dasharray:2 3}
.refline{stroke:#d62728;stroke-dasharray:4 3}
details{margin:12px 0}summary{font-size:16px;font-weight:600;cursor:pointer}
.filter input{width:320px;padding:3px 6px}
`;

function verdict(report: ParityReport): string {
  const { passed, failed } = report.summary;
  const total = passed + failed;
  const ran = report.backends.filter((b) => b.available);
  const skipped = report.backends.filter((b) => !b.available);
  const skippedText =
    skipped.length === 0
      ? 'none skipped'
      : `skipped: ${skipped.map((b) => `${escapeHtml(b.id)}${b.optional ? ' (optional)' : ''}`).join(', ')}`;
  const env = report.environment;
  const o = report.options;
  return (
    `<p class="verdict${failed > 0 ? ' fail' : ''}">${failed > 0 ? `✗ ${failed} of ${total} runs failed` : `✓ all ${total} runs passed`}` +
    ` — ${ran.length} of ${report.backends.length} backends ran, ${skippedText}</p>` +
    `<p class="meta">Generated ${escapeHtml(report.generatedAt)} on Node ${escapeHtml(env.node)} (${escapeHtml(env.platform)})` +
    `${env.chromium ? `, ${escapeHtml(env.chromium)}` : ''}; ${o.steps} steps, seed ${o.seed}${o.quick ? ', --quick' : ''}` +
    `${o.scenarioFilter.length > 0 ? `, scenarios matching ${escapeHtml(o.scenarioFilter.join(', '))}` : ''}. ` +
    'Each cell: the worst error over every compared element (params and moments, every step) ÷ its tolerance.</p>'
  );
}

function backendTable(report: ParityReport): string {
  const worst = worstOverLimitByBackend(report);
  const head = [...BACKEND_SUMMARY_HEADER, 'worst err ÷ tol'].map((h) => `<th>${escapeHtml(h)}</th>`).join('');
  const rows = backendSummaryRows(report, { reasons: false }).map((cells, i) => {
    const b = report.backends[i];
    if (!b?.available) {
      const why = `${b?.optional ? 'optional, ' : ''}skipped: ${b?.reason ?? ''}`;
      return `<tr><td>${escapeHtml(cells[0] ?? '')}</td><td>${escapeHtml(cells[1] ?? '')}</td><td colspan="5" class="why">${escapeHtml(why)}</td></tr>`;
    }
    return `<tr>${[...cells, formatRatio(worst.get(b.id) ?? 0)].map((c) => `<td>${escapeHtml(c)}</td>`).join('')}</tr>`;
  });
  return `<table id="backends"><thead><tr>${head}</tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

const traceSeries = (r: ParityResult) => ({
  name: r.backend,
  points: (r.trace ?? []).map((s) => [s.step, s.maxAbsError] as const),
});

/**
 * One error-growth chart per scenario (backends with identical traces share a line); scenarios
 * where every backend was exact at every step are listed in one line instead of drawn.
 */
function errorCharts(report: ParityReport): { charts: string[]; exact: string } {
  const byScenario = new Map<string, ParityResult[]>();
  for (const r of report.results) {
    if ((r.trace?.length ?? 0) < 2) continue;
    byScenario.set(r.scenario, [...(byScenario.get(r.scenario) ?? []), r]);
  }
  const charts: string[] = [];
  const exact: string[] = [];
  for (const [scenario, results] of byScenario) {
    const series = groupIdenticalSeries(results.map(traceSeries));
    if (series.every(isExact)) {
      exact.push(`${escapeHtml(scenario)} (${escapeHtml(series.map((s) => s.name).join(', '))})`);
      continue;
    }
    charts.push(
      lineChart({
        title: `${scenario}: max |Δθ| per step vs ${results[0]?.against}`,
        xLabel: 'step',
        yLabel: 'max |Δθ|',
        logY: true,
        series,
      }),
    );
  }
  return {
    charts,
    exact:
      exact.length === 0
        ? ''
        : `<p id="exact-runs"><b class="exact">Exact at every step</b> (not drawn): ${exact.join('; ')}.</p>`,
  };
}

function rmsCharts(report: ParityReport): string[] {
  const byScenario = new Map<string, ParityReport['rmsTraces']>();
  for (const t of report.rmsTraces) byScenario.set(t.scenario, [...(byScenario.get(t.scenario) ?? []), t]);
  return [...byScenario.entries()].map(([scenario, traces]) =>
    lineChart({
      title: `${scenario}: per-tensor RMS (float64 reference); above the dashed line (1) the lr is clipped`,
      xLabel: 'step',
      yLabel: 'RMS',
      logY: true,
      yLine: 1,
      series: traces.map((t) => ({ name: t.tensor, points: t.rms.map((v, i) => [i + 1, v] as const) })),
    }),
  );
}

function tolerancesTable(report: ParityReport): string {
  const rows = Object.entries(report.tolerances)
    .map(([dtype, t]) => `<tr><td>${dtype}</td><td>${escapeHtml(t.note)}</td></tr>`)
    .join('');
  return `<table><thead><tr><th>dtype</th><th>rule against the float64 reference</th></tr></thead><tbody>${rows}</tbody></table>`;
}

function agreementTable(report: ParityReport): string {
  const sorted = [...report.agreement].sort((x, y) => y.maxAbsDiff - x.maxAbsDiff);
  const rows = sorted.map((a) => [
    escapeHtml(a.scenario),
    escapeHtml(a.a),
    escapeHtml(a.b),
    a.maxAbsDiff === 0 ? 'exact' : a.maxAbsDiff.toExponential(2),
    String(a.maxUlp),
  ]);
  return filterableTable(
    'agreement',
    `Cross-backend agreement on final parameters (${rows.length} pairs, largest difference first)`,
    ['scenario', 'a', 'b', 'max |a − b|', 'max ulp'],
    rows,
  );
}

function resultsTable(report: ParityReport): string {
  const rows = report.results.map((r) => [
    escapeHtml(r.backend),
    escapeHtml(r.scenario),
    r.against,
    formatNumber(r.maxAbsError),
    formatNumber(r.maxRelError),
    formatUlp(r.maxUlp),
    formatRatio(r.worstErrorOverLimit),
    r.pass ? 'pass' : 'FAIL',
    escapeHtml(r.failure ?? ''),
  ]);
  return filterableTable(
    'results',
    `Every result (${rows.length} backend × scenario runs)`,
    ['backend', 'scenario', 'vs', 'max abs err', 'max rel err', 'max ulp', 'err ÷ tol', 'result', 'failure'],
    rows,
  );
}

/**
 * A self-contained HTML page that fits a 1280 px window, summary first: the verdict and counts, the
 * colour legend, pass/fail per backend × scenario; then the per-backend table, error growth and RMS
 * plots, tolerances, and the agreement and result tables (collapsed, filterable).
 */
export function renderHtml(report: ParityReport): string {
  const growth = errorCharts(report);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>stable-adamw parity report</title><style>${CSS}</style></head><body>
<section id="summary"><h1>stable-adamw parity report</h1>
${verdict(report)}${legend()}${summaryGrid(report)}</section>
<h2>Backends</h2>${backendTable(report)}
<h2>Error growth over steps</h2>
<p class="meta">Max parameter error after each compared step. Backends with identical errors share one line; a step with no error sits on the "exact" line.</p>
${growth.exact}<div class="charts" id="error-charts">${growth.charts.join('')}</div>
<h2>Per-tensor RMS traces</h2>
<div class="charts" id="rms-charts">${rmsCharts(report).join('')}</div>
<h2>Tolerances</h2>${tolerancesTable(report)}
<p>Golden runs recorded from optimi use the tolerance written in each file (fp32: optimi's own test tolerance). Worst error ÷ tolerance is the max over every compared element of |Δ| ÷ (atol + rtol·|expected|), or |Δ| ÷ max(ulps·ulp(expected), atol) for ulp tolerances; ≤ 1 passes.</p>
${agreementTable(report)}
${resultsTable(report)}
${FILTER_SCRIPT}
</body></html>
`;
}
