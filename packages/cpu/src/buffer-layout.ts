import { BLOCK_WORDS, CONTROL_WORDS, DESC_WORDS } from './wasm/layout.js';
import { blockCount, type StepperTables, type TensorRegion } from './wasm/wasm-stepper.js';

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
 * moments and (16-bit with Kahan) compensation, each tensor 16-byte aligned for SIMD loads.
 */
export function planLayout(numels: readonly number[], elementBytes: number, kahan: boolean): BufferLayout {
  let offset = RESERVED_BYTES;
  const take = (bytes: number) => {
    const at = offset;
    offset = align16(offset + bytes);
    return at;
  };
  const blocks = numels.reduce((sum, n) => sum + blockCount(n), 0);
  const control = take(CONTROL_WORDS * 4);
  const tables = {
    table: take(numels.length * DESC_WORDS * 4),
    blocks: take(blocks * BLOCK_WORDS * 4),
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
