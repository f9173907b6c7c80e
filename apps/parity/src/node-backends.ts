import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { cpu, cpuWasm, gpujs, type ParityBackend, tfjs } from './backends.js';

const require = createRequire(import.meta.url);

/** Backends that run in this Node process. */
export function nodeBackends(): ParityBackend[] {
  return [
    cpu('cpu-f64', 'float64'),
    cpu('cpu-f32', 'float32'),
    cpu('cpu-bf16', 'bfloat16'),
    cpu('cpu-f16', 'float16'),
    cpuWasm('cpu-wasm-f32', 'float32'),
    cpuWasm('cpu-wasm-bf16', 'bfloat16'),
    cpuWasm('cpu-wasm-f16', 'float16'),
    cpuWasm('cpu-wasm-f32-2t', 'float32', 2),
    tfjs('cpu', async () => {
      await import('@tensorflow/tfjs-backend-cpu');
    }),
    tfjs('wasm', async () => {
      const wasm = await import('@tensorflow/tfjs-backend-wasm');
      wasm.setWasmPaths(`${dirname(require.resolve('@tensorflow/tfjs-backend-wasm'))}/`);
    }),
    tfjs(
      'tensorflow',
      async () => {
        try {
          // Optional: present only where the user installed tfjs-node (CUDA: tfjs-node-gpu).
          await import(/* @vite-ignore */ ['@tensorflow', 'tfjs-node'].join('/'));
        } catch {
          throw new Error(
            '@tensorflow/tfjs-node is not installed: `npm install @tensorflow/tfjs-node` (or tfjs-node-gpu) to add this backend',
          );
        }
      },
      true,
    ),
    gpujs('cpu'),
    gpujs('webasm'),
  ];
}
