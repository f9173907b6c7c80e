import type { BenchRow } from './row.js';
import type { ShapeName } from './shapes.js';

/** What a comparison reads of a report row (the report's rows are these). */
export type PeerRow = Omit<BenchRow, 'dispatchesPerStep'> & { paramsPerSec?: number; dispatchesPerStep?: number | null };

/** Rows of one tfjs backend and shape side by side: ours against what users run today. */
export interface PeerComparison {
  environment: BenchRow['environment'];
  /** e.g. `tfjs-webgpu`. */
  backend: string;
  shape: ShapeName;
  /** Our row: `StableAdamW` with `kernel: 'auto'` (the subject id equals the backend). */
  subject: string;
  /** The kernel path that ran in our row (`webgpu-multi-tensor`, `webgl-fused`, `composed`). */
  kernelPath?: string;
  /** Params/s of ours, of `tf.train.adam` and of Adam + decoupled decay (undefined: not measured). */
  paramsPerSec?: number;
  adamParamsPerSec?: number;
  adamwParamsPerSec?: number;
  /** Ours ÷ `tf.train.adam`: the peer's step time ÷ ours (> 1: ours is faster). */
  vsAdam?: number;
  /** Ours ÷ the AdamW users write (`tf.train.adam` + a weight-decay `assign` per variable). */
  vsAdamW?: number;
  /** Per step: ours, `tf.train.adam`'s and the AdamW's (null where nothing is counted, e.g. tfjs-cpu). */
  dispatchesPerStep: number | null;
  adamDispatchesPerStep: number | null;
  adamwDispatchesPerStep: number | null;
}

/** `peer`'s step time ÷ `ours` (the rows have the same params), when both were timed. */
export function speedRatio(ours: PeerRow | undefined, peer: PeerRow | undefined): number | undefined {
  if (!ours?.timing || !peer?.timing) return undefined;
  return peer.timing.medianMs / ours.timing.medianMs;
}

/**
 * One comparison per tfjs backend × shape × environment where our row exists and one of the three
 * was run (float32): fused ÷ `tf.train.adam` and fused ÷ Adam-then-decay, in the report's row order.
 */
export function peerComparisons(rows: readonly PeerRow[]): PeerComparison[] {
  const key = (r: PeerRow) => `${r.environment}\u0000${r.subject}\u0000${r.shape}`;
  const byKey = new Map(rows.filter((r) => r.dtype === 'float32').map((r) => [key(r), r]));
  const ours = rows.filter((r) => r.dtype === 'float32' && r.backend.startsWith('tfjs-') && r.subject === r.backend);
  return ours.flatMap((row) => {
    const peer = (suffix: string) => byKey.get(key({ ...row, subject: `${row.subject}-${suffix}` }));
    const adam = peer('adam');
    const adamw = peer('adamw');
    // Shapes none of the three ran (the cpu-only target, device limits) are in the skipped list.
    if ([row, adam, adamw].every((r) => r === undefined || r.status === 'skipped')) return [];
    const vsAdam = speedRatio(row, adam);
    const vsAdamW = speedRatio(row, adamw);
    const comparison: PeerComparison = {
      environment: row.environment,
      backend: row.backend,
      shape: row.shape,
      subject: row.subject,
      ...(row.kernelPath ? { kernelPath: row.kernelPath } : {}),
      ...(row.paramsPerSec === undefined ? {} : { paramsPerSec: row.paramsPerSec }),
      ...(adam?.paramsPerSec === undefined ? {} : { adamParamsPerSec: adam.paramsPerSec }),
      ...(adamw?.paramsPerSec === undefined ? {} : { adamwParamsPerSec: adamw.paramsPerSec }),
      ...(vsAdam === undefined ? {} : { vsAdam }),
      ...(vsAdamW === undefined ? {} : { vsAdamW }),
      dispatchesPerStep: row.dispatchesPerStep ?? null,
      adamDispatchesPerStep: adam?.dispatchesPerStep ?? null,
      adamwDispatchesPerStep: adamw?.dispatchesPerStep ?? null,
    };
    return [comparison];
  });
}
