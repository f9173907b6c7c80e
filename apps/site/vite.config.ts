import { defineConfig } from 'vite';

export default defineConfig({
  // Relative asset URLs: the built folder works from any path it is served under.
  base: './',
  build: {
    target: 'es2022',
    // tfjs-backend-wasm starts its threaded workers from the source text of its Emscripten module
    // function (`fn.toString()` into a Blob): minified, that source refers to names of the bundle's
    // scope the worker lacks ("e is not defined"). Tree-shaking stays on: @stable-adamw/gpujs hands
    // gpu.js its kernels as source strings, which bundlers leave as written.
    minify: false,
    // Each golden fixture is a lazily loaded chunk (bf16 ones ~2 MB): large by nature, loaded on use.
    chunkSizeWarningLimit: 3000,
    // Keep the tfjs wasm binaries as files (loaded by URL), never inlined.
    assetsInlineLimit: 0,
  },
});
