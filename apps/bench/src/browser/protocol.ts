import type { BenchDtype } from '../bytes.js';
import type { BenchRow } from '../row.js';
import type { ShapeName } from '../shapes.js';

/** Options the Node side passes into the page. */
export interface BrowserRunOptions {
  shapes: ShapeName[];
  dtypes: BenchDtype[];
  warmup: number;
  steps: number;
  quick: boolean;
}

/** Subjects the page offers, known to the Node side without loading them (ids as in browser/subjects.ts). */
export const BROWSER_SUBJECTS = [
  { id: 'scalar-js' },
  { id: 'cpu-js' },
  { id: 'cpu-wasm' },
  { id: 'cpu-wasm-2t' },
  { id: 'tfjs-webgl' },
  { id: 'tfjs-webgl-composed' },
  { id: 'tfjs-webgl-adam' },
  { id: 'tfjs-webgl-adamw' },
  { id: 'tfjs-webgpu' },
  { id: 'tfjs-webgpu-composed' },
  { id: 'tfjs-webgpu-adam' },
  { id: 'tfjs-webgpu-adamw' },
  { id: 'gpujs-webgl2' },
  { id: 'gpujs-webgpu' },
] as const;

/** What the page's `window.stableAdamWBench` offers. */
export interface BrowserBenchApi {
  run(ids: string[], options: BrowserRunOptions): Promise<BenchRow[]>;
}

declare global {
  interface Window {
    stableAdamWBench: BrowserBenchApi;
    /** Exposed by the Node side: receives each row as it finishes. */
    benchRow(row: BenchRow): Promise<void>;
  }
}
