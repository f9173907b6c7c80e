import { adapterTestConfig } from '../../tooling/vitest-adapter.js';

export default adapterTestConfig({
  packageName: '@stable-adamw/gpujs',
  root: new URL('.', import.meta.url),
  nodeTimeout: 120_000,
  browserTimeout: 300_000,
});
