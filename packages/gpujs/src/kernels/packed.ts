import type { MaybePromise } from '@stable-adamw/core';
import type { IKernelFunctionThis } from 'gpu.js';
import type { GpuJsTensor } from '../tensor.js';
import { REDUCTION_BLOCK } from './block-reduction.js';
import { KERNEL_SETTINGS, type KernelCache } from './kernel-cache.js';

// Kernels of the packed path: the tensors of a step laid out one after another in shared arrays,
// each starting on a multiple of PACK_BLOCK, so a block of PACK_BLOCK elements belongs to one
// tensor and `blockTensor[block]` names it. The moments run over the packed arrays with the
// per-tensor kernels (moments.ts); the RMS and update need the tables below. gpu.js parses kernel
// bodies: only `this.thread`, `this.constants` and the arguments; indices stay inline integer
// expressions (a local `const` would be a float).

/** Elements per block: tensors start on block boundaries, and each block sum covers one block. */
export const PACK_BLOCK = REDUCTION_BLOCK;

/** `this` of the block sums: `block` elements per thread. */
type BlockThis = IKernelFunctionThis<{ block: number }>;

/** `this` of the per-tensor sums: at most `blocks` block sums per tensor. */
type TensorThis = IKernelFunctionThis<{ blocks: number }>;

/**
 * Block sums of (s·g)²/max(v, ε²), each over the block's elements that belong to its tensor
 * (`tensorEnd[blockTensor[b]]` excludes the padding before the next tensor).
 */
export function packedSumSquaresKernel(
  this: BlockThis,
  g: number[],
  v: number[],
  blockTensor: number[],
  tensorEnd: number[],
  epsSq: number,
  gradScale: number,
): number {
  // A float local, exact: pack offsets stay below 2^24.
  const end = tensorEnd[blockTensor[this.thread.x] as number] as number;
  let sum = 0;
  for (let i = 0; i < this.constants.block; i++) {
    if (this.thread.x * this.constants.block + i < end) {
      const gj = (g[this.thread.x * this.constants.block + i] as number) * gradScale;
      sum += (gj * gj) / Math.max(v[this.thread.x * this.constants.block + i] as number, epsSq);
    }
  }
  return sum;
}

/**
 * Per tensor t, its clipped learning rate η_t = lr / max(1, RMS_t) (a NaN RMS does not clip, like
 * optimi), from the block sums `firstBlock[t]` up to `firstBlock[t + 1]`: a compensated (Kahan)
 * sum, so a tensor's million block sums add up as exactly as a tree would.
 */
export function packedEtaKernel(
  this: TensorThis,
  blockSums: number[],
  firstBlock: number[],
  numels: number[],
  lr: number,
): number {
  let sum = 0;
  let carry = 0;
  for (let k = 0; k < this.constants.blocks; k++) {
    if ((firstBlock[this.thread.x] as number) + k >= (firstBlock[this.thread.x + 1] as number)) {
      break;
    }
    const y = (blockSums[(firstBlock[this.thread.x] as number) + k] as number) - carry;
    const total = sum + y;
    carry = total - sum - y;
    sum = total;
  }
  const rms = Math.sqrt(sum / (numels[this.thread.x] as number));
  let clip = 1;
  if (rms > 1) {
    clip = rms;
  }
  return lr / clip;
}

/** θ ← θ·(1 − η·decayPerLr) − η·m/(√v + ε), with η the element's tensor's clipped rate. */
export function packedUpdateKernel(
  this: BlockThis,
  p: number[],
  m: number[],
  v: number[],
  etas: number[],
  blockTensor: number[],
  eps: number,
  decayPerLr: number,
): number {
  const eta = etas[blockTensor[Math.floor(this.thread.x / this.constants.block)] as number] as number;
  return (
    (p[this.thread.x] as number) * (1 - eta * decayPerLr) -
    (eta * (m[this.thread.x] as number)) / (Math.sqrt(v[this.thread.x] as number) + eps)
  );
}

/** The device-side offset tables of one packed layout (see `PackLayout`). */
export interface PackTables {
  /** Elements of the packed arrays, padding included. */
  readonly length: number;
  /** Tensors in the pack. */
  readonly tensors: number;
  /** Blocks of the packed arrays, `⌈length / PACK_BLOCK⌉`. */
  readonly blocks: number;
  readonly blockTensor: Float32Array;
  readonly tensorEnd: Float32Array;
  /** `tensors + 1` entries: each tensor's first block, then `blocks`. */
  readonly firstBlock: Float32Array;
  readonly numels: Float32Array;
}

/** Block sums of the whole pack: one launch. */
export function launchPackedSumSquares(
  kernels: KernelCache,
  tables: PackTables,
  grad: GpuJsTensor,
  expAvgSq: GpuJsTensor,
  { epsSq, gradScale }: { epsSq: number; gradScale: number },
): MaybePromise<GpuJsTensor> {
  return kernels.launch(
    `packedSumSquares:${tables.length}:${tables.tensors}`,
    (gpu) =>
      gpu.createKernel(packedSumSquaresKernel, {
        ...KERNEL_SETTINGS,
        output: [tables.blocks],
        constants: { block: PACK_BLOCK },
        constantTypes: { block: 'Integer' },
      }),
    grad,
    expAvgSq,
    tables.blockTensor,
    tables.tensorEnd,
    epsSq,
    gradScale,
  ) as MaybePromise<GpuJsTensor>;
}

/** Every tensor's clipped learning rate from the block sums: one launch. */
export function launchPackedEtas(
  kernels: KernelCache,
  tables: PackTables,
  blockSums: GpuJsTensor,
  lr: number,
): MaybePromise<GpuJsTensor> {
  return kernels.launch(
    `packedEta:${tables.tensors}:${tables.blocks}`,
    (gpu) =>
      gpu.createKernel(packedEtaKernel, {
        ...KERNEL_SETTINGS,
        output: [tables.tensors],
        constants: { blocks: tables.blocks },
        constantTypes: { blocks: 'Integer' },
      }),
    blockSums,
    tables.firstBlock,
    tables.numels,
    lr,
  ) as MaybePromise<GpuJsTensor>;
}

/** The update of the whole pack into a fresh packed θ: one launch. */
export function launchPackedUpdate(
  kernels: KernelCache,
  tables: PackTables,
  param: GpuJsTensor,
  expAvg: GpuJsTensor,
  expAvgSq: GpuJsTensor,
  etas: GpuJsTensor,
  { eps, weightDecayPerLr }: { eps: number; weightDecayPerLr: number },
): MaybePromise<GpuJsTensor> {
  return kernels.launch(
    `packedUpdate:${tables.length}:${tables.tensors}`,
    (gpu) =>
      gpu.createKernel(packedUpdateKernel, {
        ...KERNEL_SETTINGS,
        output: [tables.length],
        constants: { block: PACK_BLOCK },
        constantTypes: { block: 'Integer' },
      }),
    param,
    expAvg,
    expAvgSq,
    etas,
    tables.blockTensor,
    eps,
    weightDecayPerLr,
  ) as MaybePromise<GpuJsTensor>;
}
