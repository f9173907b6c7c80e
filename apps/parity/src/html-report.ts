import { formatSummary, formatTable, type ParityReport, type ParityResult } from './report.js';
import { escapeHtml, heatMap, lineChart } from './svg-plots.js';

const DTYPE_SUFFIX = /-(float64|float32|bfloat16|float16)$/;

/** Scenario name without its dtype, so the same scenario lines up across backends of different dtypes. */
function family(scenario: string): string {
  return scenario.replace(DTYPE_SUFFIX, '');
}

function heatLevel(r: ParityResult): number {
  // log10(ulp + 1) over 0..4: bit-identical is 0, ~10⁴ ulp (fp32 tolerance scale) is the top.
  return r.maxUlp === null ? 1 : Math.log10(r.maxUlp + 1) / 4;
}

function errorCharts(report: ParityReport): string[] {
  const byScenario = new Map<string, ParityResult[]>();
  for (const r of report.results) {
    if ((r.trace?.length ?? 0) < 2) continue;
    const list = byScenario.get(r.scenario) ?? [];
    list.push(r);
    byScenario.set(r.scenario, list);
  }
  return [...byScenario.entries()].map(([scenario, results]) =>
    lineChart({
      title: `${scenario}: max abs parameter error vs ${results[0]?.against}`,
      xLabel: 'step',
      yLabel: 'max |Δθ|',
      logY: true,
      series: results.map((r) => ({ name: r.backend, points: (r.trace ?? []).map((s) => [s.step, s.maxAbsError] as const) })),
    }),
  );
}

function rmsCharts(report: ParityReport): string[] {
  const byScenario = new Map<string, ParityReport['rmsTraces']>();
  for (const t of report.rmsTraces) byScenario.set(t.scenario, [...(byScenario.get(t.scenario) ?? []), t]);
  return [...byScenario.entries()].map(([scenario, traces]) =>
    lineChart({
      title: `${scenario}: per-tensor RMS (float64 reference); above 1 the lr is clipped`,
      xLabel: 'step',
      yLabel: 'RMS',
      logY: true,
      yLine: 1,
      series: traces.map((t) => ({ name: t.tensor, points: t.rms.map((v, i) => [i + 1, v] as const) })),
    }),
  );
}

/** A self-contained HTML page: summary, heat map, error-vs-step and RMS plots, tables. */
export function renderHtml(report: ParityReport): string {
  const backends = report.backends.filter((b) => b.available).map((b) => b.id);
  const families = [...new Set(report.results.map((r) => family(r.scenario)))];
  const lookup = new Map(report.results.map((r) => [`${r.backend}\u0000${family(r.scenario)}`, r]));
  const heat = heatMap(backends, families, (row, col) => {
    const r = lookup.get(`${row}\u0000${col}`);
    if (!r) return undefined;
    return {
      level: heatLevel(r),
      fail: !r.pass,
      label: r.pass ? `${r.maxUlp} ulp` : 'FAIL',
      title: `${r.backend} × ${r.scenario} vs ${r.against}: max abs ${r.maxAbsError}, max rel ${r.maxRelError}, max ulp ${r.maxUlp}${r.failure ? ` — ${r.failure}` : ''}`,
    };
  });
  const agreementRows = report.agreement
    .map(
      (a) =>
        `<tr><td>${escapeHtml(a.scenario)}</td><td>${escapeHtml(a.a)}</td><td>${escapeHtml(a.b)}</td><td>${a.maxAbsDiff.toExponential(2)}</td><td>${a.maxUlp}</td></tr>`,
    )
    .join('');
  const tolerances = Object.entries(report.tolerances)
    .map(([dtype, t]) => `<tr><td>${dtype}</td><td>${escapeHtml(t.note)}</td></tr>`)
    .join('');
  const backendRows = report.backends
    .map(
      (b) =>
        `<tr><td>${escapeHtml(b.id)}</td><td>${b.environment ?? ''}</td><td>${b.available ? 'ran' : 'skipped'}</td><td>${escapeHtml(b.reason ?? '')}</td></tr>`,
    )
    .join('');
  const { passed, failed, unavailable } = report.summary;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>stable-adamw parity report</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#222;max-width:1300px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px}
table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}
pre{background:#f6f6f6;padding:8px;overflow:auto;font-size:12px}
.charts{display:flex;flex-wrap:wrap;gap:12px}
.chart .title{font-weight:600;font-size:12px}.tick,.legend,.label{font-size:10px;fill:#333}
.frame{fill:none;stroke:#999}.grid{stroke:#eee}.refline{stroke:#d62728;stroke-dasharray:4 3}
.cell-label{font-size:9px;fill:#111}.summary.fail{color:#d62728}.summary{font-weight:600}
</style></head><body>
<h1>stable-adamw parity report</h1>
<p class="summary${failed > 0 ? ' fail' : ''}">${passed} passed, ${failed} failed, ${unavailable} backends skipped — generated ${escapeHtml(report.generatedAt)} on Node ${escapeHtml(report.environment.node)}${report.environment.chromium ? `, ${escapeHtml(report.environment.chromium)}` : ''} (steps ${report.options.steps}, seed ${report.options.seed}).</p>
<h2>Backend × scenario (max ULP distance of parameters)</h2>
<div id="heatmap">${heat}</div>
<h2>Error growth over steps</h2>
<div class="charts" id="error-charts">${errorCharts(report).join('')}</div>
<h2>Per-tensor RMS traces</h2>
<div class="charts" id="rms-charts">${rmsCharts(report).join('')}</div>
<h2>Backends</h2><table><tr><th>backend</th><th>where</th><th>status</th><th>reason / how to enable</th></tr>${backendRows}</table>
<h2>Tolerances</h2><table><tr><th>dtype</th><th>rule against the float64 reference</th></tr>${tolerances}</table>
<p>Golden runs recorded from optimi use the tolerance written in each file (fp32: optimi's own test tolerance).</p>
<h2>Cross-backend agreement (final parameters)</h2>
<table><tr><th>scenario</th><th>a</th><th>b</th><th>max |a − b|</th><th>max ulp</th></tr>${agreementRows}</table>
<h2>All results</h2><pre>${escapeHtml(formatTable(report))}\n\n${escapeHtml(formatSummary(report))}</pre>
</body></html>
`;
}
