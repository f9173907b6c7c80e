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

/** Descriptor words: byte pointers and counts (u32), then float32 scalars. */
export const DESC = {
  grad: 0,
  expAvg: 1,
  expAvgSq: 2,
  param: 3,
  kahan: 4,
  /** 1 for a one-block tensor of a batched step: the kernel runs its phase 2 right after phase 1. */
  fused: 5,
  w1: 6,
  beta2: 7,
  w2: 8,
  epsSq: 9,
  negEta: 10,
  decay: 11,
  eps: 12,
  numel: 13,
} as const;
/** Descriptor float64 words: 1 − β̂1 (16-bit moments), lr and decay per lr (fused tensors). */
export const DESC_F64 = { w1: 7, lr: 8, decayPerLr: 9 } as const;
export const DESC_WORDS = 20;

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

/** Storage formats with a WebAssembly kernel. */
export type KernelFormat = 'float32' | 'bfloat16' | 'float16';

/**
 * What a phase runs, by format: odd commands are phase 1 (they take the partials table), even
 * ones phase 2; `stop` ends the workers.
 */
export const COMMAND = {
  stop: 0,
  momentsF32: 1,
  updateF32: 2,
  momentsBf16: 3,
  updateBf16: 4,
  momentsF16: 5,
  updateF16: 6,
} as const;
export type Command = (typeof COMMAND)[keyof typeof COMMAND];

/** The kernel export each command runs. */
export const KERNEL_EXPORT = {
  1: 'momentsF32',
  2: 'updateF32',
  3: 'momentsBf16',
  4: 'updateBf16',
  5: 'momentsF16',
  6: 'updateF16',
} as const;

/** The phase-1 and phase-2 commands of a format. */
export const PHASES: Record<KernelFormat, { moments: Command; update: Command }> = {
  float32: { moments: COMMAND.momentsF32, update: COMMAND.updateF32 },
  bfloat16: { moments: COMMAND.momentsBf16, update: COMMAND.updateBf16 },
  float16: { moments: COMMAND.momentsF16, update: COMMAND.updateF16 },
};
