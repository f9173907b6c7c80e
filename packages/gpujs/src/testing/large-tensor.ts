import { ReferenceStableAdamW, resolveOptions } from '@stable-adamw/core/adapter';
import type { GPU } from 'gpu.js';
import type { GpuJsParam } from '../param.js';
import { StableAdamW } from '../stable-adamw.js';

/** An 8k × 4k embedding: 33,554,432 elements, twice the old 2^24 limit (#14 item 4). */
export const LARGE_SHAPE = [8192, 4096] as const;

const OPTIONS = { lr: 1e-3, weightDecay: 0.01 };

/** Result of stepping one large tensor against the float64 reference, on a sample of elements. */
export interface LargeTensorCheck {
  /** Elements compared: both ends, both sides of 2^24, and a stride across the tensor. */
  readonly sampled: number;
  /** Max |θ − θ_ref| over the sample. */
  readonly maxError: number;
  /** The reference's RMS of the second step: above 1, so the step was clipped by the whole tensor's sum. */
  readonly rms: number;
  /** Kernel classes that ran. */
  readonly executedModes: readonly string[];
}

function sampleIndices(n: number): number[] {
  const picks = new Set<number>([0, 1, 2 ** 24 - 1, 2 ** 24, 2 ** 24 + 1, n - 2, n - 1]);
  for (let i = 0; i < 4096; i++) picks.add(Math.floor((i * (n - 1)) / 4095 + ((i * 7919) % 13)) % n);
  return [...picks].sort((a, b) => a - b);
}

/**
 * Two steps of one 33.5M-element param on `gpu`, checked against `ReferenceStableAdamW` (float64,
 * whole tensor) on a sample. The second step's gradient is ten times larger past 2^24, which clips
 * it (RMS > 1) by an amount that depends on every element's ratio: a reduction that missed a tile
 * or an index past 2^24 gives a different RMS and moves every sampled element.
 */
export async function checkLargeTensor(gpu: GPU): Promise<LargeTensorCheck> {
  const n = LARGE_SHAPE[0] * LARGE_SHAPE[1];
  const init = new Float32Array(n);
  for (let i = 0; i < n; i++) init[i] = ((i % 1009) - 504) / 1000;
  const grads = [1, 2].map((t) => {
    const g = new Float32Array(n);
    for (let i = 0; i < n; i++) g[i] = (((i * t) % 997) - 498.5) / 500 / (t === 2 && i >= 2 ** 24 ? 0.1 : 1);
    return g;
  });
  const param: GpuJsParam = { data: init.slice(), shape: LARGE_SHAPE, name: 'embedding' };
  const opt = new StableAdamW([param], { gpu, ...OPTIONS });
  for (const grad of grads) {
    param.grad = grad;
    await opt.step();
  }
  const values = await opt.readParam(param);
  const executedModes = opt.stats.executedModes;
  await opt.dispose();

  const reference = new ReferenceStableAdamW([init], [{ params: [0], hyperparameters: resolveOptions(OPTIONS) }], 'float32');
  for (const grad of grads) reference.step([grad]);
  const want = reference.params[0] as Float64Array;
  const indices = sampleIndices(n);
  let maxError = 0;
  for (const i of indices) maxError = Math.max(maxError, Math.abs((values[i] as number) - (want[i] as number)));
  return { sampled: indices.length, maxError, rms: reference.lastRms[0] as number, executedModes };
}
