import { adapterTestConfig } from '../../tooling/vitest-adapter.js';

export default adapterTestConfig({
  packageName: '@stable-adamw/tfjs',
  root: new URL('.', import.meta.url),
  nodeTimeout: 120_000,
  browserTimeout: 300_000,
  // Pre-bundled up front: discovering them mid-run makes Vite reload the page, which drops the
  // WebGPU device of a running test on a fresh machine.
  optimizeDeps: [
    '@tensorflow/tfjs-core',
    '@tensorflow/tfjs-backend-cpu',
    '@tensorflow/tfjs-backend-webgl',
    '@tensorflow/tfjs-backend-webgpu',
    '@tensorflow/tfjs-layers',
  ],
});
