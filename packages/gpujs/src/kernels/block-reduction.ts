import type { MaybePromise } from '@stable-adamw/core';
import { andThen } from '@stable-adamw/core/adapter';
import type { IKernelFunctionThis } from 'gpu.js';
import type { GpuJsTensor } from '../tensor.js';
import type { Transaction } from '../transaction.js';
import { KERNEL_SETTINGS, type KernelCache } from './kernel-cache.js';

// Tree reductions on the device, in float32: a first level of block sums of some per-element
// quantity (the RMS's g²/max(v, ε²), a non-finite count), then block sums of block sums down to one
// element. gpu.js parses kernel bodies: only `this.thread`, `this.constants` and the arguments.
// Element indices stay integer expressions written inline: the constants are typed `Integer`, and
// gpu.js declares any local `const` as a float (GLSL `float`, WGSL `f32`), exact only up to 2^24.

/** Elements summed per thread at each level of the reduction tree. */
export const REDUCTION_BLOCK = 16;

/** `this` of a reduction level: `n` input elements, `block` of them per thread. */
export type ReductionThis = IKernelFunctionThis<{ n: number; block: number }>;

/** Later tree levels: block sums of the previous level's partial sums. */
export function blockSumKernel(this: ReductionThis, partial: number[]): number {
  let sum = 0;
  for (let i = 0; i < this.constants.block; i++) {
    if (this.thread.x * this.constants.block + i < this.constants.n) {
      sum += partial[this.thread.x * this.constants.block + i] as number;
    }
  }
  return sum;
}

/** One level of a tree over `length` inputs: ⌈length/16⌉ block sums, compiled once per `name` and length. */
export function reductionLevel(
  kernels: KernelCache,
  name: string,
  source: (this: ReductionThis, ...args: never[]) => number,
  length: number,
  ...args: unknown[]
): MaybePromise<GpuJsTensor> {
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
 * Sums a first level's block sums (`length` of them, already recorded in `tx`) down to a
 * 1-element tensor: ⌈log₁₆ length⌉ launches. Every level is recorded in `tx`; each level is freed
 * as soon as the next one has read it.
 */
export function sumLevels(
  kernels: KernelCache,
  tx: Transaction,
  partial: GpuJsTensor,
  length: number,
): MaybePromise<GpuJsTensor> {
  if (length <= 1) return partial;
  return andThen(reductionLevel(kernels, 'blockSum', blockSumKernel, length, partial), (next) => {
    tx.made(next);
    tx.free(partial);
    return sumLevels(kernels, tx, next, Math.ceil(length / REDUCTION_BLOCK));
  });
}
