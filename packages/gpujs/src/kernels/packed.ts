import type { MaybePromise } from '@stable-adamw/core';
import type { GpuJsTensor } from '../tensor.js';
import { REDUCTION_BLOCK } from './block-reduction.js';
import { KERNEL_SETTINGS, type KernelCache } from './kernel-cache.js';
import { type KernelSource, unscaleFactors } from './source.js';

// Kernels of the packed path: the tensors of a step laid out one after another in shared arrays,
// each starting on a multiple of PACK_BLOCK, so a block of PACK_BLOCK elements belongs to one
// tensor and `blockTensor[block]` names it. The moments run over the packed arrays with the
// per-tensor kernels (moments.ts); the RMS and update need the tables below. Kernels are source
// text (see source.ts) and run only on gpu.js's `cpu` mode (see DeviceFacts.packsHostTensors),
// which takes integer shifts; indices stay inline integer expressions.

/** Elements per block: tensors start on block boundaries, and each block sum covers one block. */
export const PACK_BLOCK = REDUCTION_BLOCK;

/** log2(PACK_BLOCK): the update finds an element's block as `x >> PACK_BLOCK_SHIFT`. */
const PACK_BLOCK_SHIFT = Math.log2(PACK_BLOCK);

/**
 * Block sums of (s·g)²/max(v, ε²), each over the block's elements that belong to its tensor
 * (`tensorEnd[blockTensor[b]]` excludes the padding before the next tensor). A float local `end`
 * is exact: pack offsets stay below 2^24.
 */
const PACKED_SUM_SQUARES_KERNEL: KernelSource = `function packedSumSquaresKernel(g, v, blockTensor, tensorEnd, epsSq, gradA, gradB) {
  const end = tensorEnd[blockTensor[this.thread.x]];
  let sum = 0;
  for (let i = 0; i < this.constants.block; i++) {
    if (this.thread.x * this.constants.block + i < end) {
      const gj = g[this.thread.x * this.constants.block + i] * gradA * gradB;
      sum += (gj * gj) / Math.max(v[this.thread.x * this.constants.block + i], epsSq);
    }
  }
  return sum;
}`;

/**
 * Per tensor t, its clipped learning rate η_t = lr / max(1, RMS_t) (a NaN RMS does not clip, like
 * optimi), from the block sums `firstBlock[t]` up to `firstBlock[t + 1]`: a compensated (Kahan)
 * sum, so a tensor's million block sums add up as exactly as a tree would.
 */
const PACKED_ETA_KERNEL: KernelSource = `function packedEtaKernel(blockSums, firstBlock, numels, lr) {
  let sum = 0;
  let carry = 0;
  for (let k = 0; k < this.constants.blocks; k++) {
    if (firstBlock[this.thread.x] + k >= firstBlock[this.thread.x + 1]) {
      break;
    }
    const y = blockSums[firstBlock[this.thread.x] + k] - carry;
    const total = sum + y;
    carry = total - sum - y;
    sum = total;
  }
  const rms = Math.sqrt(sum / numels[this.thread.x]);
  let clip = 1;
  if (rms > 1) {
    clip = rms;
  }
  return lr / clip;
}`;

/**
 * θ ← θ·(1 − η·decayPerLr) − η·m/(√v + ε), with η the element's tensor's clipped rate, its block
 * found by an integer shift rather than a float division and floor.
 */
const PACKED_UPDATE_KERNEL: KernelSource = `function packedUpdateKernel(p, m, v, etas, blockTensor, eps, decayPerLr) {
  const eta = etas[blockTensor[this.thread.x >> ${PACK_BLOCK_SHIFT}]];
  return p[this.thread.x] * (1 - eta * decayPerLr) - (eta * m[this.thread.x]) / (Math.sqrt(v[this.thread.x]) + eps);
}`;

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
      gpu.createKernel(PACKED_SUM_SQUARES_KERNEL, {
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
    ...unscaleFactors(gradScale),
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
      gpu.createKernel(PACKED_ETA_KERNEL, {
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
    (gpu) => gpu.createKernel(PACKED_UPDATE_KERNEL, { ...KERNEL_SETTINGS, output: [tables.length] }),
    param,
    expAvg,
    expAvgSq,
    etas,
    tables.blockTensor,
    eps,
    weightDecayPerLr,
  ) as MaybePromise<GpuJsTensor>;
}
