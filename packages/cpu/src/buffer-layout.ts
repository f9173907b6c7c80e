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
 * Lays out the control block, the kernel tables and, kind by kind, every tensor's param, gradient,
 * moments and (16-bit) Kahan compensation, each tensor 16-byte aligned for SIMD loads.
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
  const region = () => numels.map((n) => take(n * elementBytes));
  const param = region();
  const gradsOffset = offset;
  const grad = region();
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
