import { StableAdamWError } from '@stable-adamw/core';
import type { Algorithm, BenchDtype } from '../bytes.js';
import type { DispatchSample } from '../dispatches.js';

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
  /** What actually ran, when the subject chooses at open time (e.g. `wasm-simd kernel, 2 threads`). */
  detail?: string;
  /** tfjs: the kernel path the optimizer really runs (`StableAdamW.kernelPath`, e.g. `webgpu-multi-tensor`). */
  kernelPath?: string;
  step(): Promise<void> | void;
  /**
   * The last step's time in ms as the subject measured it, used instead of the wall clock around
   * `step()`: a child process timing its own step, without the pipe's round trip.
   */
  lastStepMs?(): number | undefined;
  /** GPU subjects: the dispatches (draw calls, kernel launches) of the last step's optimizer call. */
  dispatches?(): DispatchSample | undefined;
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

/**
 * A device limit the adapter refused a tensor for (WebGL's maxTextureSize², a WebGPU buffer
 * binding, gpu.js's 2^24 elements) as a {@link SkipRow} naming it; any other error unchanged. The
 * bench's own params are valid float32 1-D tensors, so an `invalid_param` error here is a limit.
 */
export function deviceLimitSkip(error: unknown): unknown {
  if (StableAdamWError.isInstance(error) && error.code === 'invalid_param') {
    return new SkipRow(`device limit: ${error.message}`);
  }
  return error;
}

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
