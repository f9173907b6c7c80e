import type { Algorithm, BenchDtype } from '../bytes.js';

/** Adapter-specific memory figures, sampled after each step (peaks are kept). */
export interface MemorySample {
  /** tfjs: `tf.memory().numTensors` / `numBytes` (and `numBytesInGPU` on webgl). */
  numTensors?: number;
  numBytes?: number;
  gpuBytes?: number;
  /** gpu.js: tensors the optimizer holds on the device (textures or buffers) and compiled kernels. */
  deviceTensors?: number;
  kernels?: number;
}

/** One optimizer set up on a shape: `step()` resolves once the step's work is complete. */
export interface Stepper {
  /** What actually ran, when the subject chooses at open time (e.g. `fused kernels`). */
  detail?: string;
  step(): Promise<void> | void;
  memory(): MemorySample;
  /** Frees everything `open` made; resolves to tfjs tensors left behind (0 when none), if it can tell. */
  close(): Promise<{ leakedTensors?: number }> | { leakedTensors?: number };
}

/** A {@link BenchSubject.limit} that skips shapes over `maxParams` (optionally only in `dtype`) with `reason`. */
export function upTo(maxParams: number, reason: string, dtype?: BenchDtype): NonNullable<BenchSubject['limit']> {
  return (params, d) => (params > maxParams && (dtype === undefined || d === dtype) ? reason : undefined);
}

/** Thrown by `open` for a combination this subject does not run (recorded as skipped, with the reason). */
export class SkipRow extends Error {}

/** Something the bench times: a backend running StableAdamW (or a baseline) one way. */
export interface BenchSubject {
  /** Row id, e.g. `scalar-js`, `cpu-js`, `tfjs-wasm-adam`, `gpujs-webgl2`. */
  id: string;
  /** Backend column: `js`, `cpu`, `tfjs-cpu`, `gpujs-webasm`, … */
  backend: string;
  /** What runs, in words: `scalar loop`, `fused`, `composed ops`, `tf.train.adam`. */
  implementation: string;
  algorithm: Algorithm;
  threads: number;
  dtypes: readonly BenchDtype[];
  /** Why other dtypes are not run (e.g. "tfjs has no bfloat16"). */
  dtypeNote?: string;
  /** Shown beside every row, e.g. that a browser GPU is SwiftShader (CPU emulation). */
  note?: string;
  /** Why a shape of `params` params in `dtype` is too slow to run here (undefined: run it). */
  limit?(params: number, dtype: BenchDtype): string | undefined;
  /** Runs the shapes marked cpuOnly (the 64M target). */
  cpuShapes?: boolean;
  /** Sets the backend up once; rejects with why it cannot run here. */
  prepare?(): Promise<void>;
  open(tensors: readonly number[], dtype: BenchDtype): Promise<Stepper>;
}
