import { cpuJs } from '../subjects/cpu-js.js';
import { cpuWasmSubject } from '../subjects/cpu-wasm.js';
import { gpujsSubject } from '../subjects/gpujs.js';
import { scalarJs } from '../subjects/scalar-js.js';
import type { BenchSubject } from '../subjects/subject.js';
import { tfjsSubjects } from '../subjects/tfjs.js';

const SWIFTSHADER = 'SwiftShader: a CPU emulation of the GPU, so this row checks the path runs, not GPU speed';

/**
 * A GPU subject in the page: every shape (large, small, llm); a shape the device cannot hold
 * (SwiftShader's maxTextureSize 8192, a WebGPU binding limit) is skipped with the adapter's reason.
 */
function emulated(subject: BenchSubject): BenchSubject {
  return { ...subject, note: SWIFTSHADER };
}

/** The typed-array subjects in the page: the 64M target (the cpu goals) is measured in Node only. */
function inPage(subject: BenchSubject): BenchSubject {
  return { ...subject, cpuShapes: false };
}

/** Subjects that run inside the page (bundled into the browser entry); ids as in `BROWSER_SUBJECTS`. */
export function browserSubjects(): BenchSubject[] {
  return [
    inPage(scalarJs),
    inPage(cpuJs),
    inPage(cpuWasmSubject(1)),
    inPage(cpuWasmSubject(2)),
    ...tfjsSubjects('webgl', async () => {
      await import('@tensorflow/tfjs-backend-webgl');
    }).map(emulated),
    ...tfjsSubjects('webgpu', async () => {
      await import('@tensorflow/tfjs-backend-webgpu');
    }).map(emulated),
    emulated(gpujsSubject('webgl2')),
    emulated(gpujsSubject('webgpu')),
  ];
}
