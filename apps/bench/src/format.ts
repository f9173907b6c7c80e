import { formatTextTable } from '../../../tooling/text-table.js';
import type { BandwidthResult } from './bandwidth/measure-bandwidth.js';
import { bandwidthBound } from './bandwidth/measure-bandwidth.js';
import type { BenchDtype } from './bytes.js';
import type { CheckpointOp, CheckpointResult } from './checkpoint/measure-checkpoint.js';
import { formatDispatches } from './dispatches.js';
import type { PeerComparison } from './peers.js';
import type { BenchReport, CpuTarget, ReportRow } from './report.js';
import { sizeLabel } from './shapes.js';

/** Short dtype names for labels. */
export const DTYPE_LABEL: Record<BenchDtype, string> = { float32: 'fp32', bfloat16: 'bf16', float16: 'f16' };

/** Short numbers for tables: 3 significant digits. */
export function fmt(x: number | undefined, digits = 3): string {
  if (x === undefined || !Number.isFinite(x)) return '—';
  return x >= 10 ** digits ? x.toFixed(0) : x.toPrecision(digits);
}

function pct(x: number | undefined): string {
  return x === undefined ? '—' : `${(x * 100).toFixed(0)} %`;
}

function mib(bytes: number | undefined): string {
  return bytes === undefined ? '' : `${(bytes / 2 ** 20).toFixed(0)} MiB`;
}

/** Peak memory of a row in words: RSS or JS heap, tfjs tensors, gpu.js device tensors. */
export function memoryText(row: ReportRow): string {
  const m = row.memory;
  if (!m) return '';
  const parts = [
    m.rssBytes !== undefined ? `rss ${mib(m.rssBytes)}` : '',
    m.jsHeapBytes !== undefined ? `heap ${mib(m.jsHeapBytes)}` : '',
    m.numTensors !== undefined ? `${m.numTensors} tensors ${mib(m.numBytes)}` : '',
    m.gpuBytes !== undefined ? `gpu ${mib(m.gpuBytes)}` : '',
    m.deviceTensors !== undefined ? `${m.deviceTensors} device tensors, ${m.kernels} kernels` : '',
  ];
  return parts.filter(Boolean).join(', ');
}

/** A row's dispatch count for the tables (`—` where none is counted). */
export function dispatchText(
  row: Pick<ReportRow, 'dispatchUnit' | 'submitsPerStep' | 'dispatchesRange'> & {
    dispatchesPerStep?: number | null;
  },
): string {
  return formatDispatches({ ...row, dispatchesPerStep: row.dispatchesPerStep ?? undefined });
}

/**
 * Rows with timings, throughput, bound, what ran (tfjs: the kernel path), GPU dispatches per step
 * and memory; failed ones with their error, skipped ones only with `skipped`.
 */
export function formatRows(report: BenchReport, { skipped = true } = {}): string {
  const header = [
    'where',
    'subject',
    'shape',
    'dtype',
    'ms/step [q1–q3]',
    'Mparam/s',
    'B/param',
    'of bound',
    '× scalar',
    'ran',
    'dispatches/step',
    'peak memory',
  ];
  const rows = report.rows
    .filter((r) => skipped || r.status !== 'skipped')
    .map((r) => {
      const id = [r.environment === 'node' ? 'node' : 'chromium', r.subject, r.shape, r.dtype];
      if (!r.timing)
        return [...id, r.status === 'failed' ? `FAILED: ${r.reason}` : `skipped: ${r.reason}`, '', '', '', '', '', '', ''];
      const t = r.timing;
      return [
        ...id,
        `${fmt(t.medianMs)} [${fmt(t.q1Ms)}–${fmt(t.q3Ms)}]`,
        fmt((r.paramsPerSec ?? 0) / 1e6),
        String(r.bytesPerParam),
        pct(r.fractionOfBound),
        r.vsScalar === undefined ? '—' : `${r.vsScalar.toFixed(2)}×`,
        r.kernelPath ?? r.detail ?? '',
        dispatchText(r),
        memoryText(r),
      ];
    });
  return formatTextTable(header, rows, false);
}

/** Skipped rows grouped by reason: one line per reason, listing `where subject shape dtype`. */
export function formatSkipped(report: BenchReport): string {
  const byReason = new Map<string, string[]>();
  for (const r of report.rows.filter((r) => r.status === 'skipped')) {
    const reason = r.reason ?? 'skipped';
    byReason.set(reason, [...(byReason.get(reason) ?? []), `${r.environment} ${r.subject} ${r.shape} ${r.dtype}`]);
  }
  return [...byReason.entries()].map(([reason, rows]) => `skipped (${reason}): ${rows.join(', ')}`).join('\n');
}

/** Bandwidth figures, GB/s. */
export function formatBandwidth(bandwidth: readonly BandwidthResult[]): string {
  return bandwidth.map((b) => `${b.op} ${b.threads}t ${b.gbPerSec.toFixed(1)} GB/s`).join(', ');
}

/** A goal's row, and for ratio goals `row ÷ baseline`. */
function measuredOn(t: CpuTarget): string {
  if (!t.subject) return '—';
  if (!t.baseline) return t.subject;
  const row = `${t.subject} ${t.dtype ? DTYPE_LABEL[t.dtype] : ''}`.trim();
  return `${row} ÷ ${t.baseline.subject} ${DTYPE_LABEL[t.baseline.dtype]}`;
}

/**
 * One line per cpu goal: what it is measured on (`row ÷ baseline` for ratios), value, goal, met or
 * not (with why, when not measured), and the fraction of the memory bound beside it (the
 * baseline's after `÷`).
 */
export function formatTargets(targets: readonly CpuTarget[], { markdown = false } = {}): string {
  const rows = targets.map((t) => [
    t.label,
    measuredOn(t),
    t.value === undefined ? 'not measured' : t.comparison === '>=' ? `${t.value.toFixed(2)}×` : t.value.toFixed(2),
    `${t.comparison === '>=' ? '≥' : '≤'} ${t.goal}`,
    t.reason ? `${t.result}: ${t.reason}` : t.result,
    t.baseline ? `${pct(t.fractionOfBound)} (÷ ${pct(t.baseline.fractionOfBound)})` : pct(t.fractionOfBound),
  ]);
  return formatTextTable(['cpu goal', 'measured on', 'value', 'goal', 'result', 'of bound'], rows, markdown);
}

/**
 * The README's matrix: one line per measured subject × dtype × environment, one column per shape
 * with params/s, the fraction of the bandwidth bound, the ratio to scalar-js and, on GPU rows, the
 * dispatches per step.
 */
export function formatMatrix(report: BenchReport): string {
  const shapes = report.shapes.map((s) => s.name);
  const keys = [...new Set(report.rows.filter((r) => r.timing).map((r) => `${r.environment}\u0000${r.subject}\u0000${r.dtype}`))];
  const rows = keys.map((key) => {
    const [environment, subject, dtype] = key.split('\u0000') as [string, string, string];
    const mine = report.rows.filter((r) => r.environment === environment && r.subject === subject && r.dtype === dtype);
    const cells = shapes.map((shape) => {
      const r = mine.find((x) => x.shape === shape);
      if (!r?.timing) return r?.status === 'failed' ? 'failed' : '—';
      const ratio = r.vsScalar === undefined ? '' : `, ${r.vsScalar.toFixed(2)}×`;
      const dispatches = r.dispatchesPerStep === null ? '' : `; ${dispatchText(r)}`;
      return `${fmt((r.paramsPerSec ?? 0) / 1e6)} (${pct(r.fractionOfBound)}${ratio}${dispatches})`;
    });
    return [environment, subject, dtype, ...cells];
  });
  const header = ['where', 'subject', 'dtype', ...report.shapes.map((s) => `${s.name} (${s.description})`)];
  return formatTextTable(header, rows, true);
}

function ratio(x: number | undefined): string {
  return x === undefined ? '—' : `${x.toFixed(2)}×`;
}

function dispatchCell(n: number | null): string {
  return n === null ? '—' : String(n);
}

/**
 * The peers side by side, one line per tfjs backend × shape: our kernel path, params/s of ours,
 * `tf.train.adam` and Adam + decoupled decay, ours ÷ each (> 1: ours is faster) and the
 * dispatches per step of the three (ours / adam / adamw).
 */
export function formatPeers(peers: readonly PeerComparison[], { markdown = false } = {}): string {
  const mps = (x: number | undefined) => (x === undefined ? '—' : fmt(x / 1e6));
  const rows = peers.map((p) => [
    p.environment,
    p.backend,
    p.shape,
    p.kernelPath ?? '—',
    mps(p.paramsPerSec),
    mps(p.adamParamsPerSec),
    mps(p.adamwParamsPerSec),
    ratio(p.vsAdam),
    ratio(p.vsAdamW),
    [p.dispatchesPerStep, p.adamDispatchesPerStep, p.adamwDispatchesPerStep].every((n) => n === null)
      ? '—'
      : [p.dispatchesPerStep, p.adamDispatchesPerStep, p.adamwDispatchesPerStep].map(dispatchCell).join(' / '),
  ]);
  return formatTextTable(
    [
      'where',
      'tfjs backend',
      'shape',
      'kernel path',
      'ours Mparam/s',
      'tf.train.adam',
      'adam + decay',
      'ours ÷ adam',
      'ours ÷ adamw',
      'dispatches/step (ours / adam / adamw)',
    ],
    rows,
    markdown,
  );
}

const CHECKPOINT_OP: Record<CheckpointOp, string> = {
  'safetensors-save': 'saveCheckpoint (safetensors)',
  'safetensors-load': 'loadCheckpoint (safetensors)',
  'json-save': 'JSON.stringify(stateDict())',
  'json-load': 'loadStateDict(JSON.parse(…))',
  copy: 'Uint8Array.set (same bytes)',
};

/**
 * Checkpoint throughput, one line per operation and size: state MB/s (exp_avg and exp_avg_sq,
 * 8 B per param) and the ratio to copying the same bytes.
 */
export function formatCheckpoint(results: readonly CheckpointResult[], { markdown = false } = {}): string {
  const rows = results.map((r) => [
    CHECKPOINT_OP[r.op],
    sizeLabel(r.params),
    `${fmt(r.stateBytes / 2 ** 20)} MiB`,
    `${fmt(r.encodedBytes / 2 ** 20)} MiB`,
    `${fmt(r.medianMs)}${r.reps > 1 ? ` (median of ${r.reps})` : ''}`,
    fmt(r.mbPerSec),
    r.vsCopy === undefined ? '—' : `${fmt(r.vsCopy)}×`,
  ]);
  return formatTextTable(['checkpoint (cpu, fp32)', 'params', 'state', 'encoded', 'ms', 'state MB/s', '÷ copy'], rows, markdown);
}

const START = '<!-- bench-table:start -->';
const END = '<!-- bench-table:end -->';

function boundText(report: BenchReport): string {
  const threads = [...new Set(report.bandwidth.map((b) => b.threads))].sort((a, b) => a - b);
  return threads.map((t) => `${t} thread${t > 1 ? 's' : ''} ${fmt(bandwidthBound(report.bandwidth, t))} GB/s`).join(', ');
}

/** The Markdown block the README carries: machine, bandwidth, the matrix and the cpu goals. */
export function readmeBlock(report: BenchReport): string {
  const m = report.machine;
  return [
    `_Generated by \`npm run bench -- --update-readme\` on ${report.generatedAt.slice(0, 10)}: ${m.cpu}, ${m.cores} cores${m.lastLevelCacheBytes ? `, ${Math.round(m.lastLevelCacheBytes / 2 ** 20)} MiB last-level cache` : ''}, Node ${m.node}${m.chromium ? `, ${m.chromium}` : ''}; median of ${report.options.steps} steps after ${report.options.warmup} warm-up steps${report.options.quick ? ' (--quick: tiny shapes, not representative)' : ''}. Cells: M params/s (fraction of the bandwidth bound, × scalar-js on the same shape and environment; GPU rows: dispatches, draw calls or gpu.js launches per step). Peers: ours ÷ tf.train.adam and ÷ Adam + decoupled weight decay on the same tfjs backend and shape (> 1: ours is faster). Bound bandwidth (in-place axpy, best of two measurements): ${boundText(report)}; all figures in bench.json._`,
    '',
    formatMatrix(report),
    '',
    formatPeers(report.peers, { markdown: true }),
    '',
    formatTargets(report.cpuTargets, { markdown: true }),
    '',
    ...(report.checkpoint.length > 0 ? [formatCheckpoint(report.checkpoint, { markdown: true }), ''] : []),
    ...report.notes.map((n) => `- ${n}`),
  ].join('\n');
}

/** Replaces the text between the bench markers of a README with `block`. */
export function replaceReadmeBlock(readme: string, block: string): string {
  const i = readme.indexOf(START);
  const j = readme.indexOf(END);
  if (i < 0 || j < i) throw new Error(`README has no ${START} … ${END} block`);
  return `${readme.slice(0, i + START.length)}\n${block}\n${readme.slice(j)}`;
}
