import type { Algorithm, BenchDtype } from './bytes.js';
import type { DispatchFields } from './dispatches.js';
import type { ShapeName } from './shapes.js';
import type { TimingSummary } from './stats.js';
import type { MemorySample } from './subjects/subject.js';

/** Peak memory while a row ran (host figures from the environment, the rest from the adapter). */
export interface PeakMemory extends MemorySample {
  /** Node: resident set size. */
  rssBytes?: number;
  /** Chromium: `performance.memory.usedJSHeapSize`, where the browser exposes it. */
  jsHeapBytes?: number;
}

/** One measured (or skipped) backend × implementation × shape × dtype (GPU rows: with their dispatches per step). */
export interface BenchRow extends DispatchFields {
  subject: string;
  backend: string;
  implementation: string;
  algorithm: Algorithm;
  environment: 'node' | 'chromium';
  threads: number;
  shape: ShapeName;
  dtype: BenchDtype;
  params: number;
  tensors: number;
  status: 'ok' | 'skipped' | 'failed';
  /** Why the row was skipped or failed. */
  reason?: string;
  note?: string;
  /** What actually ran where the subject picks at open time (e.g. `wasm-simd kernel, 2 threads`, tfjs `webgl-fused`). */
  detail?: string;
  /** tfjs StableAdamW rows: the kernel path that ran (`webgpu-multi-tensor`, `webgl-fused` or `composed`). */
  kernelPath?: string;
  warmup?: number;
  timing?: TimingSummary;
  memory?: PeakMemory;
  /** tfjs tensors still allocated after the row closed (0: no leak). */
  leakedTensors?: number;
}
