import type { MaybePromise } from '@stable-adamw/core';
import { andThen } from '@stable-adamw/core/adapter';
import type { GpuJsTensor } from '../tensor.js';
import type { Transaction } from '../transaction.js';
import { REDUCTION_BLOCK, reductionLevel, sumLevels } from './block-reduction.js';
import type { KernelCache } from './kernel-cache.js';
import { type DeviceControl, type KernelSource, kernelFor, unscaleFactors } from './source.js';

// The RMS's sum Σ (s·g)²/max(v, ε²), with s the gradient scale (a loss scaler's 1/scale, or 1),
// reduced on the device in float32 down a tree of block sums (see block-reduction.ts).

/** First tree level: block sums of (s·g)²/max(v, ε²) over `block` consecutive elements. */
const SUM_SQUARES_KERNEL: KernelSource = `function sumSquaresKernel(g, v, epsSq, gradA, gradB) {
  let sum = 0;
  for (let i = 0; i < this.constants.block; i++) {
    if (this.thread.x * this.constants.block + i < this.constants.n) {
      const gj = g[this.thread.x * this.constants.block + i] * gradA * gradB;
      sum += (gj * gj) / Math.max(v[this.thread.x * this.constants.block + i], epsSq);
    }
  }
  return sum;
}`;

/**
 * Σ (s·g)²/max(v, ε²) as a 1-element tensor that never leaves the device: 16-element levels down
 * to at most 1024 partial sums, then one final sum (2 launches up to 16k elements, 4 at 4M); every
 * level recorded in `tx`. With `control`, the unscale comes from the device and a skipped step sums 0.
 */
export function reduceSumSquares(
  kernels: KernelCache,
  tx: Transaction,
  numel: number,
  grad: GpuJsTensor,
  expAvgSq: GpuJsTensor,
  { epsSq, gradScale }: { epsSq: number; gradScale: number },
  control?: DeviceControl,
): MaybePromise<GpuJsTensor> {
  const [gradA, gradB] = unscaleFactors(gradScale);
  const k = kernelFor('sumSquares', SUM_SQUARES_KERNEL, 'return 0;', { epsSq, gradA, gradB }, control);
  return andThen(reductionLevel(kernels, k.key, k.source, numel, grad, expAvgSq, ...k.args), (first) =>
    sumLevels(kernels, tx, tx.made(first), Math.ceil(numel / REDUCTION_BLOCK)),
  );
}
