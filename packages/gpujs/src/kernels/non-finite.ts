import type { MaybePromise } from '@stable-adamw/core';
import { andThen } from '@stable-adamw/core/adapter';
import { type GpuJsTensor, numelOf } from '../tensor.js';
import { inOrder, type Transaction } from '../transaction.js';
import { REDUCTION_BLOCK, reductionLevel, sumLevels } from './block-reduction.js';
import { KERNEL_SETTINGS, type KernelCache } from './kernel-cache.js';
import type { KernelSource } from './source.js';

// Non-finite gradients, counted on the device: per gradient a tree of block counts (see
// block-reduction.ts) down to one element, each placed into one table of counts, so a step reads
// back a single tensor however many gradients it has. Kernels are source text (see source.ts).

/** The largest finite float32, passed as a kernel argument so no code generator prints a literal at the edge of float32. */
export const FLOAT32_MAX = 3.4028234663852886e38;

/**
 * First tree level: how many of `block` consecutive elements are NaN or ±Inf. Two tests, either
 * of which suffices where the shader compiler keeps IEEE semantics: `x != x` (NaN only), and
 * `!(|x| ≤ max)` (NaN and ±Inf). Some compilers fold `x != x` to false, and a compiler assuming no
 * NaN may turn the second into `|x| > max`, which still catches ±Inf.
 */
const NON_FINITE_COUNT_KERNEL: KernelSource = `function nonFiniteCountKernel(g, maxFinite) {
  let count = 0;
  for (let i = 0; i < this.constants.block; i++) {
    if (this.thread.x * this.constants.block + i < this.constants.n) {
      const x = g[this.thread.x * this.constants.block + i];
      if (x !== x || !(Math.abs(x) <= maxFinite)) {
        count += 1;
      }
    }
  }
  return count;
}`;

/** Entry `index` of the table becomes `count[0]`; the others are copied. */
const PLACE_COUNT_KERNEL: KernelSource = `function placeCountKernel(table, count, index) {
  if (this.thread.x === index) {
    return count[0];
  }
  return table[this.thread.x];
}`;

/** The first entry of a fresh table, the others 0. */
const START_TABLE_KERNEL: KernelSource = `function startTableKernel(count) {
  if (this.thread.x === 0) {
    return count[0];
  }
  return 0;
}`;

/** The number of non-finite values of one gradient as a 1-element tensor, every level recorded in `tx`. */
export function countNonFinite(kernels: KernelCache, tx: Transaction, grad: GpuJsTensor): MaybePromise<GpuJsTensor> {
  const numel = numelOf(grad);
  return andThen(reductionLevel(kernels, 'nonFinite', NON_FINITE_COUNT_KERNEL, numel, grad, FLOAT32_MAX), (first) =>
    sumLevels(kernels, tx, tx.made(first), Math.ceil(numel / REDUCTION_BLOCK)),
  );
}

/**
 * A tensor whose entry k is the number of NaN/±Inf values in `grads[k]` (nonzero exactly when the
 * gradient has one; float32 counts above 2^24 are approximate). Launches the levels of a tree reduction per
 * gradient plus one placement; everything it makes is recorded in `tx`, the table included.
 */
export function nonFiniteTable(kernels: KernelCache, tx: Transaction, grads: readonly GpuJsTensor[]): MaybePromise<GpuJsTensor> {
  const length = grads.length;
  const output = [length];
  let table: GpuJsTensor | undefined;
  return andThen(
    inOrder(grads, (grad, k) =>
      andThen(countNonFinite(kernels, tx, grad), (count) => {
        const placed = table
          ? kernels.launch(
              `placeCount:${length}`,
              (gpu) => gpu.createKernel(PLACE_COUNT_KERNEL, { ...KERNEL_SETTINGS, output }),
              table,
              count,
              k,
            )
          : kernels.launch(
              `startTable:${length}`,
              (gpu) => gpu.createKernel(START_TABLE_KERNEL, { ...KERNEL_SETTINGS, output }),
              count,
            );
        return andThen(placed as MaybePromise<GpuJsTensor>, (next) => {
          if (table) tx.free(table);
          tx.free(count);
          table = tx.made(next);
        });
      }),
    ),
    () => table as GpuJsTensor,
  );
}
