import type { MaybePromise } from '@stable-adamw/core';
import { andThen } from '@stable-adamw/core/adapter';
import type { GpuJsTensor } from '../tensor.js';
import type { Transaction } from '../transaction.js';
import { KERNEL_SETTINGS, type KernelCache } from './kernel-cache.js';
import type { KernelSource } from './source.js';

// Tree reductions on the device, in float32: a first level of block sums of some per-element
// quantity (the RMS's g²/max(v, ε²), a non-finite count), then block sums of block sums down to one
// element. Kernels are source text (see source.ts); a level's kernel reads `this.constants.n` (its
// input length) and `this.constants.block` (elements per thread).
// Element indices stay integer expressions written inline: the constants are typed `Integer`, and
// gpu.js declares any local `const` as a float (GLSL `float`, WGSL `f32`), exact only up to 2^24.

/** Elements summed per thread at each level of the reduction tree. */
export const REDUCTION_BLOCK = 16;

/**
 * A level of at most this many partial sums is summed by one thread in one launch: a launch costs
 * more than a thousand additions (#14: launches per step), and a float32 sum of ≤ 1024 positive
 * terms is accurate to ~1e-5 relative at worst, far below what the RMS clip can show.
 */
export const FINAL_SUM_MAX = 1024;

/** Later tree levels: block sums of the previous level's partial sums. */
const BLOCK_SUM_KERNEL: KernelSource = `function blockSumKernel(partial) {
  let sum = 0;
  for (let i = 0; i < this.constants.block; i++) {
    if (this.thread.x * this.constants.block + i < this.constants.n) {
      sum += partial[this.thread.x * this.constants.block + i];
    }
  }
  return sum;
}`;

/**
 * One level of a tree over `length` inputs: ⌈length/block⌉ block sums (16 elements each unless
 * `block` says otherwise), compiled once per `name`, length and block.
 */
export function reductionLevel(
  kernels: KernelCache,
  name: string,
  source: KernelSource,
  length: number,
  ...args: unknown[]
): MaybePromise<GpuJsTensor> {
  return blockLevel(kernels, name, source, length, REDUCTION_BLOCK, ...args);
}

function blockLevel(
  kernels: KernelCache,
  name: string,
  source: KernelSource,
  length: number,
  block: number,
  ...args: unknown[]
): MaybePromise<GpuJsTensor> {
  return kernels.launch(
    `${name}:${length}:${block}`,
    (gpu) =>
      gpu.createKernel(source, {
        ...KERNEL_SETTINGS,
        output: [Math.ceil(length / block)],
        constants: { n: length, block },
        constantTypes: { n: 'Integer', block: 'Integer' },
      }),
    ...args,
  ) as MaybePromise<GpuJsTensor>;
}

/**
 * Sums a first level's block sums (`length` of them, already recorded in `tx`) down to a
 * 1-element tensor: levels of 16-element blocks until at most FINAL_SUM_MAX remain, then one
 * launch that sums them all. Every level is recorded in `tx`; each level is freed as soon as the
 * next one has read it.
 */
export function sumLevels(
  kernels: KernelCache,
  tx: Transaction,
  partial: GpuJsTensor,
  length: number,
): MaybePromise<GpuJsTensor> {
  if (length <= 1) return partial;
  const block = length <= FINAL_SUM_MAX ? length : REDUCTION_BLOCK;
  return andThen(blockLevel(kernels, 'blockSum', BLOCK_SUM_KERNEL, length, block, partial), (next) => {
    tx.made(next);
    tx.free(partial);
    return sumLevels(kernels, tx, next, Math.ceil(length / block));
  });
}
