import type { MaybePromise } from '@stable-adamw/core';
import type { GpuJsTensor } from '../tensor.js';
import { KERNEL_SETTINGS, type KernelCache } from './kernel-cache.js';
import { type DeviceControl, type KernelSource, kernelFor } from './source.js';

// Phase 2, the update, as source text (see source.ts). The element index is `this.thread.x` inline, an integer: gpu.js would declare a local copy a float.

/**
 * The update, with the RMS clip computed on the device from the reduced sum:
 * η = lr / max(1, RMS) (a NaN RMS does not clip, like optimi); θ ← θ·(1 − η·decayPerLr) − η·m/(√v + ε).
 */
const UPDATE_KERNEL: KernelSource = `function updateKernel(p, m, v, sumSquares, lr, numel, eps, decayPerLr) {
  const rms = Math.sqrt(sumSquares[0] / numel);
  let clip = 1;
  if (rms > 1) {
    clip = rms;
  }
  const eta = lr / clip;
  return p[this.thread.x] * (1 - eta * decayPerLr) - (eta * m[this.thread.x]) / (Math.sqrt(v[this.thread.x]) + eps);
}`;

/**
 * The clipped update of `length` elements of θ (a whole tensor, or one tile of it) into a fresh
 * tensor, from their moments and the reduced sum of the whole tensor of `numel` elements. A
 * skipped step (`control`) copies θ.
 */
export function launchUpdate(
  kernels: KernelCache,
  length: number,
  param: GpuJsTensor,
  expAvg: GpuJsTensor,
  expAvgSq: GpuJsTensor,
  sumSquares: GpuJsTensor,
  { lr, numel, eps, weightDecayPerLr }: { lr: number; numel: number; eps: number; weightDecayPerLr: number },
  control?: DeviceControl,
): MaybePromise<GpuJsTensor> {
  const scalars = { lr, numel, eps, decayPerLr: weightDecayPerLr };
  const k = kernelFor(`update:${length}`, UPDATE_KERNEL, 'return p[this.thread.x];', scalars, control);
  return kernels.launch(
    k.key,
    (gpu) => gpu.createKernel(k.source, { ...KERNEL_SETTINGS, output: [length] }),
    param,
    expAvg,
    expAvgSq,
    sumSquares,
    ...k.args,
  ) as MaybePromise<GpuJsTensor>;
}
