import { clippedLearningRate, type MomentScalars, rmsFromSum, type UpdateScalars } from '@stable-adamw/core/adapter';
import { BLOCK, BLOCK_BYTES, DESC, DESC_BYTES } from './generated/memory-layout.js';
import type { KernelExports } from './kernel-module.js';
import { BLOCK_ELEMENTS, KERNEL_EXPORT, type KernelFormat, PHASES } from './layout.js';
import type { ThreadPool } from './thread-pool.js';

/** Byte offsets of one tensor's arrays in the memory (kahan: 0 when the buffer has none). */
export interface TensorRegion {
  readonly numel: number;
  readonly param: number;
  readonly grad: number;
  readonly expAvg: number;
  readonly expAvgSq: number;
  readonly kahan: number;
}

/** Byte offsets of the stepper's tables, sized for every tensor and block of the buffer. */
export interface StepperTables {
  readonly table: number;
  readonly blocks: number;
  readonly partials: number;
}

/** One tensor of a batched step. */
export interface WasmStepItem {
  readonly region: TensorRegion;
  readonly moments: MomentScalars;
  readonly update: UpdateScalars;
}

/** Number of blocks a tensor of `numel` elements is cut into. */
export function blockCount(numel: number): number {
  return Math.ceil(numel / BLOCK_ELEMENTS);
}

/**
 * Runs the WebAssembly kernels over tensors of one buffer: writes a descriptor per tensor and a
 * block table, runs phase 1 over all blocks (on this thread, or on the pool), adds each tensor's
 * block partials in block order, sets η and the decay factor per tensor, runs phase 2. One-block
 * tensors of a batched step are finished inside phase 1 (see `#write`).
 */
export class WasmStepper {
  readonly #kernel: KernelExports;
  readonly #tables: StepperTables;
  readonly #u32: Uint32Array;
  readonly #f32: Float32Array;
  readonly #f64: Float64Array;
  readonly #phases: (typeof PHASES)[KernelFormat];
  readonly #pool: ThreadPool | undefined;
  readonly #format: KernelFormat;
  #busy = false;

  constructor(kernel: KernelExports, memory: WebAssembly.Memory, tables: StepperTables, format: KernelFormat, pool?: ThreadPool) {
    this.#kernel = kernel;
    this.#format = format;
    this.#tables = tables;
    this.#u32 = new Uint32Array(memory.buffer);
    this.#f32 = new Float32Array(memory.buffer);
    this.#f64 = new Float64Array(memory.buffer);
    this.#phases = PHASES[format];
    this.#pool = pool;
  }

  /** True while a threaded step runs; the memory's tables must not be touched then. */
  get busy(): boolean {
    return this.#busy;
  }

  /** Both phases for every item: synchronous on one thread, a Promise with a pool. */
  step(items: readonly WasmStepItem[]): Promise<void> | undefined {
    const count = this.#write(items, true);
    const pool = this.#pool;
    if (!pool) {
      this.#momentsHere(count);
      this.#setUpdates(items);
      this.#updateHere(count);
      return undefined;
    }
    const { table, blocks, partials } = this.#tables;
    const phase2 = items.some(({ region }) => region.numel > BLOCK_ELEMENTS);
    this.#busy = true;
    const run = async () => {
      try {
        await pool.run(this.#phases.moments, count, table, blocks, partials);
        if (!phase2) return;
        this.#setUpdates(items);
        await pool.run(this.#phases.update, count, table, blocks, partials);
      } finally {
        this.#busy = false;
      }
    };
    return run();
  }

  /** Whether a tensor's gradient holds NaN or ±Inf: one SIMD read of it on this thread. */
  hasNonFinite(region: TensorRegion): boolean {
    if (this.#format === 'float32') return this.#kernel.nonFiniteF32(region.grad, region.numel) !== 0;
    return this.#kernel.nonFinite16(region.grad, region.numel, this.#format === 'bfloat16' ? 0x7f80 : 0x7c00) !== 0;
  }

  /** Phase 1 of one tensor on this thread (gradient release); returns its Σg²/max(v, ε²). */
  moments(region: TensorRegion, moments: MomentScalars): number {
    const count = this.#write([{ region, moments, update: NO_UPDATE }], false);
    this.#momentsHere(count);
    return this.#blockSum(0, count);
  }

  /** Phase 2 of one tensor on this thread, given its total from `moments`. */
  update(region: TensorRegion, sumSquares: number, update: UpdateScalars): void {
    const count = this.#write([{ region, moments: NO_MOMENTS, update }], false);
    this.#setUpdate(0, sumSquares, update, update.kahan ? region.kahan : 0);
    this.#updateHere(count);
  }

  #momentsHere(count: number): void {
    const { table, blocks, partials } = this.#tables;
    this.#kernel[KERNEL_EXPORT[this.#phases.moments as 1 | 3 | 5]](table, blocks, partials, 0, count);
  }

  #updateHere(count: number): void {
    const { table, blocks } = this.#tables;
    this.#kernel[KERNEL_EXPORT[this.#phases.update as 2 | 4 | 6]](table, blocks, 0, count);
  }

  /**
   * Writes descriptors (with phase-1 scalars) and the block table; returns the block count. With
   * `fuse`, one-block tensors get their phase 2 from the kernel right after phase 1 (the moments
   * are still in cache), with η computed there exactly as `#setUpdate` does.
   */
  #write(items: readonly WasmStepItem[], fuse: boolean): number {
    const u32 = this.#u32;
    const f32 = this.#f32;
    const f64 = this.#f64;
    let block = 0;
    items.forEach(({ region, moments, update }, t) => {
      // Byte offsets (from memory-layout.json) turned into indices of the 4- or 8-byte views.
      const d = this.#tables.table + t * DESC_BYTES;
      u32[(d + DESC.fused) / 4] = fuse && region.numel <= BLOCK_ELEMENTS ? 1 : 0;
      u32[(d + DESC.numel) / 4] = region.numel;
      f64[(d + DESC.lr) / 8] = update.lr;
      f64[(d + DESC.decayPerLr) / 8] = update.weightDecayPerLr;
      f32[(d + DESC.eps) / 4] = update.eps;
      u32[(d + DESC.grad) / 4] = region.grad;
      u32[(d + DESC.expAvg) / 4] = region.expAvg;
      u32[(d + DESC.expAvgSq) / 4] = region.expAvgSq;
      u32[(d + DESC.param) / 4] = region.param;
      u32[(d + DESC.kahan) / 4] = update.kahan ? region.kahan : 0;
      f32[(d + DESC.w1) / 4] = 1 - moments.beta1Hat;
      f64[(d + DESC.w1F64) / 8] = 1 - moments.beta1Hat;
      f32[(d + DESC.beta2) / 4] = moments.beta2Hat;
      f32[(d + DESC.w2) / 4] = 1 - moments.beta2Hat;
      f32[(d + DESC.epsSq) / 4] = moments.epsSq;
      f32[(d + DESC.gradScale) / 4] = moments.gradScale;
      for (let start = 0; start < region.numel; start += BLOCK_ELEMENTS, block++) {
        const b = this.#tables.blocks + block * BLOCK_BYTES;
        u32[(b + BLOCK.tensor) / 4] = t;
        u32[(b + BLOCK.start) / 4] = start;
        u32[(b + BLOCK.count) / 4] = Math.min(BLOCK_ELEMENTS, region.numel - start);
      }
    });
    return block;
  }

  /** The sum of block partials [from, from + count), added in block order. */
  #blockSum(from: number, count: number): number {
    const base = this.#tables.partials / 8;
    let sum = 0;
    for (let b = from; b < from + count; b++) sum += this.#f64[base + b] as number;
    return sum;
  }

  #setUpdates(items: readonly WasmStepItem[]): void {
    let block = 0;
    items.forEach(({ region, update }, t) => {
      const count = blockCount(region.numel);
      if (count > 1) this.#setUpdate(t, this.#blockSum(block, count), update, update.kahan ? region.kahan : 0);
      block += count;
    });
  }

  #setUpdate(t: number, sumSquares: number, update: UpdateScalars, kahan: number): void {
    const eta = clippedLearningRate(update.lr, rmsFromSum(sumSquares, update.numel));
    const d = this.#tables.table + t * DESC_BYTES;
    this.#u32[(d + DESC.kahan) / 4] = kahan;
    this.#f32[(d + DESC.negEta) / 4] = -eta;
    this.#f32[(d + DESC.decay) / 4] = 1 - eta * update.weightDecayPerLr;
    this.#f32[(d + DESC.eps) / 4] = update.eps;
  }
}

const NO_MOMENTS: MomentScalars = { beta1Hat: 0, beta2Hat: 0, epsSq: 0, reduce: false, gradScale: 1 };
const NO_UPDATE: UpdateScalars = { lr: 0, numel: 0, eps: 0, weightDecayPerLr: 0, kahan: false };
