import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { cpuJs } from './subjects/cpu-js.js';
import { cpuWasmSubject } from './subjects/cpu-wasm.js';
import { gpujsSubject } from './subjects/gpujs.js';
import { GPUJS_HOST_LIMIT, limited, TFJS_CPU_LIMIT } from './subjects/limits.js';
import { nativeCSubjects } from './subjects/native-c.js';
import { scalarJs } from './subjects/scalar-js.js';
import type { BenchSubject } from './subjects/subject.js';
import { tfjsSubjects } from './subjects/tfjs.js';

const require = createRequire(import.meta.url);

/** Everything the bench times in this Node process, scalar-js first (the ratios need it), native-c beside cpu-wasm. */
export function nodeSubjects(): BenchSubject[] {
  return [
    scalarJs,
    cpuJs,
    cpuWasmSubject(1),
    cpuWasmSubject(2),
    ...nativeCSubjects(),
    ...tfjsSubjects('cpu', async () => {
      await import('@tensorflow/tfjs-backend-cpu');
    }).map((s) => limited(s, TFJS_CPU_LIMIT)),
    ...tfjsSubjects('wasm', async () => {
      const wasm = await import('@tensorflow/tfjs-backend-wasm');
      wasm.setWasmPaths(`${dirname(require.resolve('@tensorflow/tfjs-backend-wasm'))}/`);
    }),
    limited(gpujsSubject('cpu'), GPUJS_HOST_LIMIT),
    limited(gpujsSubject('webasm'), GPUJS_HOST_LIMIT),
  ];
}
