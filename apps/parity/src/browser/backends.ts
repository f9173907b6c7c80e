import { cpu, gpujs, type ParityBackend } from '../backends.js';

/** Backends that run inside the page (bundled into the browser entry); ids as in `BROWSER_BACKENDS`. */
export function browserBackends(): ParityBackend[] {
  return [{ ...cpu('cpu-f32-browser', 'float32') }, gpujs('webgl2'), gpujs('webgl'), gpujs('webgpu')];
}
