import type { BackendStatus, ParityResult } from '../report.js';

/** Options the Node side passes into the page. */
export interface BrowserRunOptions {
  steps: number;
  seed: number;
  quick: boolean;
  scenarioFilter: string[];
}

/** Final params travel as plain arrays (structured clone through playwright). */
export interface BrowserFinal {
  backend: string;
  scenario: string;
  dtype: 'float64' | 'float32' | 'bfloat16' | 'float16';
  params: number[][];
}

/** Backends the browser runner offers, known to the Node side without loading them. */
export const BROWSER_BACKENDS = [
  { id: 'cpu-f32-browser', dtype: 'float32' },
  { id: 'cpu-wasm-f32-browser', dtype: 'float32' },
  { id: 'tfjs-webgl', dtype: 'float32' },
  { id: 'tfjs-webgpu', dtype: 'float32' },
  { id: 'gpujs-webgl2', dtype: 'float32' },
  { id: 'gpujs-webgl', dtype: 'float32' },
  { id: 'gpujs-webgpu', dtype: 'float32' },
] as const;

/** What the page's `window.stableAdamWParity` offers. */
export interface BrowserParityApi {
  run(
    ids: string[],
    options: BrowserRunOptions,
  ): Promise<{ backends: BackendStatus[]; results: ParityResult[]; finals: BrowserFinal[] }>;
}

declare global {
  interface Window {
    stableAdamWParity: BrowserParityApi;
    /** Exposed by the Node side: receives each result as it finishes. */
    parityResult(result: ParityResult): Promise<void>;
  }
}
