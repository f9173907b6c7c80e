import { type BandwidthResult, bandwidthBound } from './bandwidth/measure-bandwidth.js';
import { bytesPerParam } from './bytes.js';
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

/** Assembles the report (machine info comes from the caller: Node-only facts). */
export function buildReport(input: {
  rows: readonly BenchRow[];
  bandwidth: readonly BandwidthResult[];
  shapes: readonly Shape[];
  machine: BenchReport['machine'];
  options: BenchReport['options'];
  notes: readonly string[];
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
    cpuTargets: cpuTargets(rows, { quick: input.options.quick }),
    notes: [...input.notes],
  };
}
