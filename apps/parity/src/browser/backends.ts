import { cpu, cpuWasm, gpujs, type ParityBackend, tfjs } from '../backends.js';

/** Backends that run inside the page (bundled into the browser entry); ids as in `BROWSER_BACKENDS`. */
export function browserBackends(): ParityBackend[] {
  return [
    cpu('cpu-f32-browser', 'float32'),
    cpuWasm('cpu-wasm-f32-browser', 'float32'),
    tfjs('webgl', async () => {
      await import('@tensorflow/tfjs-backend-webgl');
    }),
    tfjs('webgpu', async () => {
      await import('@tensorflow/tfjs-backend-webgpu');
    }),
    gpujs('webgl2'),
    gpujs('webgl'),
    gpujs('webgpu'),
  ];
}
