/**
 * Memory layout shared with assembly/kernel.ts: tensor descriptors, the block table and the
 * control block that coordinates worker threads. Offsets are in 32-bit words.
 */

/**
 * Elements per block. Every tensor is cut into blocks of this size (the last one shorter) and each
 * block's partial Σg²/max(v, ε²) is computed alone, so a tensor's total is the same for any number
 * of threads.
 */
export const BLOCK_ELEMENTS = 16384;

/** Descriptor words: byte pointers (u32), then float32 scalars. */
export const DESC = {
  grad: 0,
  expAvg: 1,
  expAvgSq: 2,
  param: 3,
  kahan: 4,
  w1: 6,
  beta2: 7,
  w2: 8,
  epsSq: 9,
  negEta: 10,
  decay: 11,
  eps: 12,
} as const;
/** Descriptor index (in 64-bit words) of 1 − β̂1 as float64 (bfloat16 moments). */
export const DESC_W1_F64 = 7;
export const DESC_WORDS = 16;

/** Block table words: tensor index (into the descriptors), first element, element count. */
export const BLOCK = { tensor: 0, start: 1, count: 2 } as const;
export const BLOCK_WORDS = 4;

/** Control block words (Int32, used with Atomics). */
export const CONTROL = {
  /** Bumped by the main thread to start a phase; workers wait on it. */
  generation: 0,
  /** What to run: one of `COMMAND`. */
  command: 1,
  /** Next block to take (workers `Atomics.add` it). */
  next: 2,
  blockCount: 3,
  /** Workers that finished the current phase. */
  done: 4,
  table: 5,
  blocks: 6,
  partials: 7,
} as const;
export const CONTROL_WORDS = 16;

export const COMMAND = { stop: 0, momentsF32: 1, updateF32: 2, momentsBf16: 3, updateBf16: 4 } as const;
export type Command = (typeof COMMAND)[keyof typeof COMMAND];
