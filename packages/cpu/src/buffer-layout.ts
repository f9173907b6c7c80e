import { BLOCK_BYTES, DESC_BYTES } from './kernels/wasm/generated/memory-layout.js';
import { CONTROL_WORDS } from './kernels/wasm/layout.js';
import { blockCount, type StepperTables, type TensorRegion } from './kernels/wasm/wasm-stepper.js';

/** Storage types of a flat parameter buffer. */
export type BufferDtype = 'float32' | 'bfloat16' | 'float16';

/** Bytes below this offset belong to the kernel module (its static data; it has none today). */
export const RESERVED_BYTES = 1024;
/** WebAssembly's page size and its 32-bit address space in pages. */
export const PAGE_BYTES = 65536;
export const MAX_PAGES = 65536;

/** Where everything of a flat parameter buffer lives in its memory (byte offsets). */
export interface BufferLayout {
  readonly control: number;
  readonly tables: StepperTables;
  readonly regions: readonly TensorRegion[];
  /** All gradients, back to back (each tensor padded to 16 bytes). */
  readonly gradsOffset: number;
  readonly gradsBytes: number;
  readonly bytes: number;
}

const align16 = (bytes: number) => Math.ceil(bytes / 16) * 16;

/**
 * Where, within a 4 KiB page, the k-th kind of array (param, gradient, moments, Kahan) starts:
 * 768 bytes (12 cache lines) apart, so five kinds spread over the page. Back to back, tensors of
 * power-of-two sizes would put element i of every array at the same address modulo a large power
 * of two, so the kernels' streams would fight over the same cache sets and alias in the store
 * buffer (a third of the speed on 8 tensors of 8M float32 elements).
 */
export const STAGGER_BYTES = 768;
const STREAM_PERIOD = 4096;

/**
 * Lays out the control block, the kernel tables and, kind by kind, every tensor's param, gradient,
 * moments and (16-bit) Kahan compensation, each tensor 16-byte aligned for SIMD loads and each
 * kind staggered within the page (`STAGGER_BYTES`).
 */
export function planLayout(numels: readonly number[], dtype: BufferDtype): BufferLayout {
  const elementBytes = dtype === 'float32' ? 4 : 2;
  const kahan = dtype !== 'float32';
  let offset = RESERVED_BYTES;
  const take = (bytes: number) => {
    const at = offset;
    offset = align16(offset + bytes);
    return at;
  };
  const blocks = numels.reduce((sum, n) => sum + blockCount(n), 0);
  const control = take(CONTROL_WORDS * 4);
  const tables = {
    table: take(numels.length * DESC_BYTES),
    blocks: take(blocks * BLOCK_BYTES),
    partials: take(blocks * 8),
  };
  let kinds = 0;
  let regionStart = offset;
  const region = () => {
    offset = Math.ceil(offset / STREAM_PERIOD) * STREAM_PERIOD + kinds++ * STAGGER_BYTES;
    regionStart = offset;
    return numels.map((n) => take(n * elementBytes));
  };
  const param = region();
  const grad = region();
  const gradsOffset = regionStart;
  const gradsBytes = offset - gradsOffset;
  const expAvg = region();
  const expAvgSq = region();
  const kahanComp = kahan ? region() : numels.map(() => 0);
  const regions = numels.map((numel, i) => ({
    numel,
    param: param[i] as number,
    grad: grad[i] as number,
    expAvg: expAvg[i] as number,
    expAvgSq: expAvgSq[i] as number,
    kahan: kahanComp[i] as number,
  }));
  return { control, tables, regions, gradsOffset, gradsBytes, bytes: offset };
}
