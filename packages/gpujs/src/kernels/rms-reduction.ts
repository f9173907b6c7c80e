import type { MaybePromise } from '@stable-adamw/core';
import { andThen } from '@stable-adamw/core/adapter';
import type { IKernelFunctionThis } from 'gpu.js';
import type { GpuJsTensor } from '../tensor.js';
import type { Transaction } from '../transaction.js';
import { KERNEL_SETTINGS, type KernelCache } from './kernel-cache.js';

// The RMS's sum Σ g²/max(v, ε²), reduced on the device in float32 down a tree of block sums.
// gpu.js parses kernel bodies: only `this.thread`, `this.constants` and the arguments. Element
// indices stay integer expressions written inline: the constants are typed `Integer`, and gpu.js
// declares any local `const` as a float (GLSL `float`, WGSL `f32`), exact only up to 2^24.

/** Elements summed per thread at each level of the reduction tree. */
export const REDUCTION_BLOCK = 16;

type Reduce = IKernelFunctionThis<{ n: number; block: number }>;

/** First tree level: block sums of g²/max(v, ε²) over `block` consecutive elements. */
export function sumSquaresKernel(this: Reduce, g: number[], v: number[], epsSq: number): number {
  let sum = 0;
  for (let i = 0; i < this.constants.block; i++) {
    if (this.thread.x * this.constants.block + i < this.constants.n) {
      const gj = g[this.thread.x * this.constants.block + i] as number;
      sum += (gj * gj) / Math.max(v[this.thread.x * this.constants.block + i] as number, epsSq);
    }
  }
  return sum;
}

/** Later tree levels: block sums of the previous level's partial sums. */
export function blockSumKernel(this: Reduce, partial: number[]): number {
  let sum = 0;
  for (let i = 0; i < this.constants.block; i++) {
    if (this.thread.x * this.constants.block + i < this.constants.n) {
      sum += partial[this.thread.x * this.constants.block + i] as number;
    }
  }
  return sum;
}

/** One level of the tree: ⌈length/16⌉ block sums, compiled once per `name` and length. */
function reduction(
  kernels: KernelCache,
  name: string,
  source: typeof sumSquaresKernel | typeof blockSumKernel,
  length: number,
  ...args: unknown[]
) {
  return kernels.launch(
    `${name}:${length}`,
    (gpu) =>
      gpu.createKernel(source as never, {
        ...KERNEL_SETTINGS,
        output: [Math.ceil(length / REDUCTION_BLOCK)],
        constants: { n: length, block: REDUCTION_BLOCK },
        constantTypes: { n: 'Integer', block: 'Integer' },
      }),
    ...args,
  ) as MaybePromise<GpuJsTensor>;
}

/**
 * Σ g²/max(v, ε²) as a 1-element tensor that never leaves the device: ⌈log₁₆ n⌉ launches. Every
 * level is recorded in `tx`; the partial sums in between are freed as soon as the next level has
 * read them.
 */
export function reduceSumSquares(
  kernels: KernelCache,
  tx: Transaction,
  numel: number,
  grad: GpuJsTensor,
  expAvgSq: GpuJsTensor,
  epsSq: number,
): MaybePromise<GpuJsTensor> {
  const level = (partial: GpuJsTensor, length: number): MaybePromise<GpuJsTensor> => {
    if (length <= 1) return partial;
    return andThen(reduction(kernels, 'blockSum', blockSumKernel, length, partial), (next) => {
      tx.made(next);
      tx.free(partial);
      return level(next, Math.ceil(length / REDUCTION_BLOCK));
    });
  };
  return andThen(reduction(kernels, 'sumSquares', sumSquaresKernel, numel, grad, expAvgSq, epsSq), (first) =>
    level(tx.made(first), Math.ceil(numel / REDUCTION_BLOCK)),
  );
}
