import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { cpuJs } from './subjects/cpu-js.js';
import { gpujsSubject } from './subjects/gpujs.js';
import { scalarJs } from './subjects/scalar-js.js';
import type { BenchSubject } from './subjects/subject.js';
import { tfjsSubjects } from './subjects/tfjs.js';

const require = createRequire(import.meta.url);

/** gpu.js's cpu and webasm modes run a JS/WASM interpretation of the kernels: far slower, so only up to `small`. */
const GPUJS_HOST_LIMIT = {
  maxParams: 4_200_000,
  reason: 'gpu.js cpu/webasm modes are too slow for 16M+ params within the time budget (run up to the 4M small shape)',
};

/** Everything the bench times in this Node process, scalar-js first (the ratios need it). */
export function nodeSubjects(): BenchSubject[] {
  return [
    scalarJs,
    cpuJs,
    ...tfjsSubjects('cpu', async () => {
      await import('@tensorflow/tfjs-backend-cpu');
    }),
    ...tfjsSubjects('wasm', async () => {
      const wasm = await import('@tensorflow/tfjs-backend-wasm');
      wasm.setWasmPaths(`${dirname(require.resolve('@tensorflow/tfjs-backend-wasm'))}/`);
    }),
    gpujsSubject('cpu', GPUJS_HOST_LIMIT),
    gpujsSubject('webasm', GPUJS_HOST_LIMIT),
  ];
}
