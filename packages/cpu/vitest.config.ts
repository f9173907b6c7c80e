import { adapterTestConfig } from '../../tooling/vitest-adapter.js';

export default adapterTestConfig({
  packageName: '@stable-adamw/cpu',
  root: new URL('.', import.meta.url),
  nodeTimeout: 60_000,
  browserTimeout: 120_000,
  // SharedArrayBuffer for the WebAssembly worker threads.
  crossOriginIsolated: true,
});
