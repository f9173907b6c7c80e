import { type BandwidthResult, bandwidthBound } from './bandwidth/measure-bandwidth.js';
import { type BenchDtype, bytesPerParam } from './bytes.js';
import type { CheckpointResult } from './checkpoint/measure-checkpoint.js';
import { type PeerComparison, peerComparisons } from './peers.js';
import type { BenchRow } from './row.js';
import { paramCount, type Shape, type ShapeName } from './shapes.js';

/** A row with what the report derives from it and the bandwidth measured in the same run. */
export interface ReportRow extends Omit<BenchRow, 'dispatchesPerStep'> {
  /** GPU rows (tfjs-webgl/webgpu, gpu.js): dispatches, draw calls or launches per step; null where nothing is counted. */
  dispatchesPerStep: number | null;
  /** Minimum bytes the algorithm moves per param per step (see bytes.ts). */
  bytesPerParam: number;
  paramsPerSec?: number;
  /** Best in-place axpy bandwidth at the row's thread count (GB/s), the bound's numerator. */
  boundGBps?: number;
  /** boundGBps / bytesPerParam. */
  boundParamsPerSec?: number;
  /** paramsPerSec / boundParamsPerSec. */
  fractionOfBound?: number;
  /** Speed relative to scalar-js on the same shape in the same environment (> 1: faster). */
  vsScalar?: number;
}

/** How a goal came out: `not measured (quick)` when `--quick`'s tiny shapes were timed (they measure nothing). */
export type TargetResult = 'met' | 'not met' | 'not measured' | 'not measured (quick)';

/** A goal from the issue, checked on the run's own figures. */
export interface CpuTarget {
  label: string;
  /** The row it was measured on (undefined: that row did not run). */
  subject?: string;
  /** That row's dtype, for goals that compare dtypes. */
  dtype?: BenchDtype;
  /** The row the value is a ratio of params/s to, measured in the same run, with its fraction of the bound. */
  baseline?: { subject: string; dtype: BenchDtype; fractionOfBound?: number };
  /** Why a goal is not measured: the skip or failure reason of a row it needs, or that the row was not run. */
  reason?: string;
  value?: number;
  goal: number;
  comparison: '>=' | '<=';
  /** Absent when not measured (or measured on --quick's tiny shapes). */
  met?: boolean;
  result: TargetResult;
  fractionOfBound?: number;
}

export interface BenchReport {
  generatedAt: string;
  machine: {
    cpu: string;
    cores: number;
    memoryBytes: number;
    lastLevelCacheBytes?: number;
    platform: string;
    node: string;
    chromium?: string;
  };
  options: { warmup: number; steps: number; quick: boolean };
  shapes: { name: ShapeName; description: string; params: number; tensors: number }[];
  bandwidth: BandwidthResult[];
  rows: ReportRow[];
  /** Each tfjs backend × shape: ours ÷ `tf.train.adam` and ÷ Adam + decoupled decay. */
  peers: PeerComparison[];
  cpuTargets: CpuTarget[];
  /** Checkpoint save and load throughput (empty when not run): safetensors, JSON and a plain copy. */
  checkpoint: CheckpointResult[];
  notes: string[];
}

/** Adds params/s, the bandwidth bound, its fraction and the ratio to scalar-js to each row. */
export function deriveRows(rows: readonly BenchRow[], bandwidth: readonly BandwidthResult[]): ReportRow[] {
  const scalar = new Map(
    rows
      .filter((r) => r.subject === 'scalar-js' && r.timing)
      .map((r) => [`${r.environment}/${r.shape}`, r.timing?.medianMs as number]),
  );
  return rows.map((input) => {
    const row = { ...input, dispatchesPerStep: input.dispatchesPerStep ?? null };
    const bytes = bytesPerParam(row.algorithm, row.dtype);
    if (!row.timing) return { ...row, bytesPerParam: bytes };
    const paramsPerSec = row.params / (row.timing.medianMs / 1e3);
    const boundGBps = bandwidthBound(bandwidth, row.threads);
    const boundParamsPerSec = boundGBps === undefined ? undefined : (boundGBps * 1e9) / bytes;
    const scalarMs = scalar.get(`${row.environment}/${row.shape}`);
    return {
      ...row,
      bytesPerParam: bytes,
      paramsPerSec,
      ...(boundParamsPerSec === undefined
        ? {}
        : { boundGBps, boundParamsPerSec, fractionOfBound: paramsPerSec / boundParamsPerSec }),
      ...(scalarMs === undefined ? {} : { vsScalar: scalarMs / row.timing.medianMs }),
    };
  });
}

function find(rows: readonly ReportRow[], subjects: readonly string[], shape: ShapeName): ReportRow | undefined {
  for (const subject of subjects) {
    const row = rows.find(
      (r) => r.environment === 'node' && r.subject === subject && r.shape === shape && r.dtype === 'float32' && r.timing,
    );
    if (row) return row;
  }
  return undefined;
}

function target(
  label: string,
  row: ReportRow | undefined,
  value: number | undefined,
  goal: number,
  comparison: '>=' | '<=',
  quick: boolean,
): CpuTarget {
  if (!row || value === undefined) return { label, goal, comparison, result: 'not measured' };
  const met = comparison === '>=' ? value >= goal : value <= goal;
  return {
    label,
    subject: row.subject,
    value,
    goal,
    comparison,
    // --quick's shapes are ~256× smaller: cache-resident and overhead-bound, so no goal is measured.
    ...(quick ? { result: 'not measured (quick)' as const } : { met, result: met ? ('met' as const) : ('not met' as const) }),
    ...(row.fractionOfBound === undefined ? {} : { fractionOfBound: row.fractionOfBound }),
  };
}

/** Single-threaded cpu kernels, fastest first: the WASM kernel when it ran, else the JS one. */
export const SINGLE_THREAD_CPU = ['cpu-wasm', 'cpu-js'] as const;
export const TWO_THREAD_CPU = ['cpu-wasm-2t'] as const;

/**
 * The cpu goals on the 64M fp32 `target` shape, as ratios to scalar-js timed in the same
 * run: one thread ≥ 1.45×, two threads ≥ 2.8×; and many small tensors (`small`) within 1.5× of few
 * large ones (`large`) per parameter. With `quick` the values are shown but no goal is judged.
 */
export function cpuTargets(rows: readonly ReportRow[], { quick = false } = {}): CpuTarget[] {
  const one = find(rows, SINGLE_THREAD_CPU, 'target');
  const two = find(rows, TWO_THREAD_CPU, 'target');
  const small = find(rows, SINGLE_THREAD_CPU, 'small');
  const large = small ? find(rows, [small.subject], 'large') : undefined;
  const perParam = (r: ReportRow) => (r.timing?.medianMs as number) / r.params;
  return [
    target('1 thread vs scalar-js, 64M fp32', one, one?.vsScalar, 1.45, '>=', quick),
    target('2 threads vs scalar-js, 64M fp32', two, two?.vsScalar, 2.8, '>=', quick),
    target(
      'small (512 × 8k) vs large (4 × 4M), time per param',
      small,
      small && large ? perParam(small) / perParam(large) : undefined,
      1.5,
      '<=',
      quick,
    ),
  ];
}

/** One row of a ratio goal. */
export interface GoalRow {
  subject: string;
  shape: ShapeName;
  dtype: BenchDtype;
}

/** A goal of the form `row` params/s ÷ `baseline` params/s ≥ `goal`, both from the same run. */
export interface RatioGoal {
  label: string;
  row: GoalRow;
  baseline: GoalRow;
  goal: number;
}

const f32 = (subject: string, shape: ShapeName): GoalRow => ({ subject, shape, dtype: 'float32' });

/**
 * Issue #17's goals: the float32 WASM kernel at ≥ 0.9× the same two-pass kernel in C with 128-bit
 * SIMD (native-c-128) on the 64M shape, 1 and 2 threads; bf16 and f16 at ≥ 1.0× float32 in params/s
 * on the llm shape; the JS kernels at ≥ 1.0× (fp32) and ≥ 0.3× (bf16, on the 4M small shape, the
 * largest it runs) the scalar loop.
 */
export const NATIVE_GOALS: readonly RatioGoal[] = [
  {
    label: 'cpu-wasm vs native-c-128, 64M fp32, 1 thread',
    row: f32('cpu-wasm', 'target'),
    baseline: f32('native-c-128', 'target'),
    goal: 0.9,
  },
  {
    label: 'cpu-wasm vs native-c-128, 64M fp32, 2 threads',
    row: f32('cpu-wasm-2t', 'target'),
    baseline: f32('native-c-128-2t', 'target'),
    goal: 0.9,
  },
  ...(['bfloat16', 'float16'] as const).flatMap((dtype) =>
    (['cpu-wasm', 'cpu-wasm-2t'] as const).map((subject) => ({
      label: `cpu-wasm ${dtype === 'bfloat16' ? 'bf16' : 'f16'} vs fp32, llm, ${subject === 'cpu-wasm' ? '1 thread' : '2 threads'}`,
      row: { subject, shape: 'llm' as const, dtype },
      baseline: f32(subject, 'llm'),
      goal: 1,
    })),
  ),
  { label: 'cpu-js fp32 vs scalar-js, 64M', row: f32('cpu-js', 'target'), baseline: f32('scalar-js', 'target'), goal: 1 },
  {
    label: 'cpu-js bf16 vs scalar-js fp32, small (4M)',
    row: { subject: 'cpu-js', shape: 'small', dtype: 'bfloat16' },
    baseline: f32('scalar-js', 'small'),
    goal: 0.3,
  },
];

function describeRow(key: GoalRow): string {
  return `${key.subject} ${key.shape} ${key.dtype}`;
}

/** Why a goal's row has no figure: its skip or failure reason, or that it was not run. */
function missing(rows: readonly ReportRow[], key: GoalRow): string {
  const row = rows.find(
    (r) => r.environment === 'node' && r.subject === key.subject && r.shape === key.shape && r.dtype === key.dtype,
  );
  return row?.reason ? `${describeRow(key)}: ${row.reason}` : `${describeRow(key)} was not run`;
}

/** A {@link RatioGoal} judged on the Node rows (with `quick`: shown, not judged). */
export function ratioTarget(rows: readonly ReportRow[], goal: RatioGoal, { quick = false } = {}): CpuTarget {
  const timed = (key: GoalRow) =>
    rows.find(
      (r) =>
        r.environment === 'node' && r.subject === key.subject && r.shape === key.shape && r.dtype === key.dtype && r.paramsPerSec,
    );
  const row = timed(goal.row);
  const base = timed(goal.baseline);
  const head = { label: goal.label, goal: goal.goal, comparison: '>=' as const };
  if (!row || !base) {
    const reasons = [row ? undefined : missing(rows, goal.row), base ? undefined : missing(rows, goal.baseline)];
    return { ...head, result: 'not measured', reason: reasons.filter(Boolean).join('; ') };
  }
  const value = (row.paramsPerSec as number) / (base.paramsPerSec as number);
  const met = value >= goal.goal;
  return {
    ...head,
    subject: row.subject,
    dtype: row.dtype,
    baseline: {
      subject: base.subject,
      dtype: base.dtype,
      ...(base.fractionOfBound === undefined ? {} : { fractionOfBound: base.fractionOfBound }),
    },
    value,
    ...(quick ? { result: 'not measured (quick)' as const } : { met, result: met ? ('met' as const) : ('not met' as const) }),
    ...(row.fractionOfBound === undefined ? {} : { fractionOfBound: row.fractionOfBound }),
  };
}

/** Assembles the report (machine info comes from the caller: Node-only facts). */
export function buildReport(input: {
  rows: readonly BenchRow[];
  bandwidth: readonly BandwidthResult[];
  shapes: readonly Shape[];
  machine: BenchReport['machine'];
  options: BenchReport['options'];
  notes: readonly string[];
  checkpoint?: readonly CheckpointResult[];
}): BenchReport {
  const rows = deriveRows(input.rows, input.bandwidth);
  return {
    generatedAt: new Date().toISOString(),
    machine: input.machine,
    options: input.options,
    shapes: input.shapes.map((s) => ({
      name: s.name,
      description: s.description,
      params: paramCount(s),
      tensors: s.tensors.length,
    })),
    bandwidth: [...input.bandwidth],
    rows,
    peers: peerComparisons(rows),
    cpuTargets: [
      ...cpuTargets(rows, { quick: input.options.quick }),
      ...NATIVE_GOALS.map((goal) => ratioTarget(rows, goal, { quick: input.options.quick })),
    ],
    checkpoint: [...(input.checkpoint ?? [])],
    notes: [...input.notes],
  };
}
