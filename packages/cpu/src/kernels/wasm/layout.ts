/**
 * The host's side of the kernel protocol: block size, the control block that coordinates worker
 * threads (32-bit words) and the commands. The records the kernel reads (tensor descriptors,
 * block entries) are generated from memory-layout.json into ./generated/memory-layout.ts.
 */

/**
 * Elements per block. Every tensor is cut into blocks of this size (the last one shorter) and each
 * block's partial Σg²/max(v, ε²) is computed alone, so a tensor's total is the same for any number
 * of threads.
 */
export const BLOCK_ELEMENTS = 16384;

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
