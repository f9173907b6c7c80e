import { DTYPE_LABEL, fmt, formatCheckpoint, formatPeers, formatRows, formatTargets, memoryText } from './format.js';
import type { BenchReport, ReportRow } from './report.js';
import { barChart, escapeHtml } from './svg-bars.js';

function label(r: ReportRow): string {
  return `${r.subject} ${DTYPE_LABEL[r.dtype]}${r.environment === 'chromium' ? ' (chromium)' : ''}`;
}

function throughputCharts(report: BenchReport): string[] {
  return report.shapes.flatMap((shape) => {
    const rows = report.rows.filter((r) => r.shape === shape.name && r.paramsPerSec !== undefined);
    if (rows.length === 0) return [];
    return [
      barChart({
        title: `${shape.name} (${shape.description}): params/s per step (dashed: the bandwidth bound)`,
        format: (v) => `${fmt(v / 1e6)} M/s`,
        bars: rows.map((r) => ({
          label: label(r),
          value: r.paramsPerSec as number,
          ...(r.boundParamsPerSec === undefined ? {} : { mark: r.boundParamsPerSec }),
          group: r.environment,
          title: `${label(r)} — ${r.implementation}: median ${fmt(r.timing?.medianMs)} ms/step, ${memoryText(r)}${r.note ? ` — ${r.note}` : ''}`,
        })),
      }),
    ];
  });
}

function boundCharts(report: BenchReport): string[] {
  return report.shapes.flatMap((shape) => {
    const rows = report.rows.filter((r) => r.shape === shape.name && r.fractionOfBound !== undefined);
    if (rows.length === 0) return [];
    return [
      barChart({
        title: `${shape.name}: fraction of the bandwidth bound`,
        format: (v) => `${(v * 100).toFixed(0)} %`,
        bars: rows.map((r) => ({ label: label(r), value: r.fractionOfBound as number, mark: 1, group: r.environment })),
      }),
    ];
  });
}

function bandwidthChart(report: BenchReport): string {
  return barChart({
    title: 'Measured bandwidth (STREAM, best of the reps)',
    format: (v) => `${v.toFixed(1)} GB/s`,
    bars: report.bandwidth.map((b) => ({
      label: `${b.op}, ${b.threads} thread${b.threads > 1 ? 's' : ''}`,
      value: b.gbPerSec,
      group: `${b.threads}t`,
    })),
  });
}

/** A self-contained HTML page: machine, bandwidth, params/s and bound-fraction bar charts, cpu goals, every row. */
export function renderHtml(report: BenchReport): string {
  const m = report.machine;
  const skipped = report.rows.filter((r) => r.status !== 'ok');
  const skippedRows = skipped
    .map(
      (r) =>
        `<tr><td>${r.environment}</td><td>${escapeHtml(r.subject)}</td><td>${r.shape}</td><td>${r.dtype}</td><td>${r.status}</td><td>${escapeHtml(r.reason ?? '')}</td></tr>`,
    )
    .join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>stable-adamw bench report</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#222;max-width:1300px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px}
table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}
pre{background:#f6f6f6;padding:8px;overflow:auto;font-size:11px}
.charts{display:flex;flex-wrap:wrap;gap:16px}
.chart .title{font-weight:600;font-size:12px}.label,.value,.legend{font-size:10px;fill:#333}
.mark{stroke:#d62728;stroke-width:1.5;stroke-dasharray:3 2}
</style></head><body>
<h1>stable-adamw bench report</h1>
<p id="machine">${escapeHtml(m.cpu)}, ${m.cores} cores, ${(m.memoryBytes / 2 ** 30).toFixed(0)} GiB${m.lastLevelCacheBytes ? `, ${Math.round(m.lastLevelCacheBytes / 2 ** 20)} MiB last-level cache` : ''}, ${escapeHtml(m.platform)}, Node ${escapeHtml(m.node)}${m.chromium ? `, ${escapeHtml(m.chromium)}` : ''} — generated ${escapeHtml(report.generatedAt)}; median of ${report.options.steps} steps after ${report.options.warmup} warm-up${report.options.quick ? ' (--quick: tiny shapes, not representative)' : ''}.</p>
<h2>Bandwidth</h2>
<div id="bandwidth">${bandwidthChart(report)}</div>
<h2>Throughput</h2>
<div class="charts" id="throughput">${throughputCharts(report).join('')}</div>
<h2>Fraction of the bound</h2>
<div class="charts" id="bound">${boundCharts(report).join('')}</div>
<h2>tfjs peers: ours ÷ tf.train.adam and ÷ Adam + decoupled decay</h2>
<pre id="peers">${escapeHtml(formatPeers(report.peers))}</pre>
<h2>cpu goals</h2>
<pre id="targets">${escapeHtml(formatTargets(report.cpuTargets))}</pre>
${report.checkpoint.length > 0 ? `<h2>Checkpoints: saveCheckpoint / loadCheckpoint against JSON and a plain copy</h2>\n<pre id="checkpoint">${escapeHtml(formatCheckpoint(report.checkpoint))}</pre>\n` : ''}<h2>Notes</h2><ul>${report.notes.map((n) => `<li>${escapeHtml(n)}</li>`).join('')}</ul>
<h2>Skipped and failed rows</h2>
<table id="skipped"><tr><th>where</th><th>subject</th><th>shape</th><th>dtype</th><th>status</th><th>reason</th></tr>${skippedRows}</table>
<h2>All rows</h2><pre>${escapeHtml(formatRows(report))}</pre>
</body></html>
`;
}
