import { defineConfig } from 'vite';

export default defineConfig({
  // Relative asset URLs: the built folder works from any path it is served under.
  base: './',
  build: {
    target: 'es2022',
    // gpu.js compiles kernels from their JavaScript source, and worker code travels as function
    // source: minified code breaks both.
    minify: false,
    // Each golden fixture is a lazily loaded chunk (bf16 ones ~2 MB): large by nature, loaded on use.
    chunkSizeWarningLimit: 3000,
    // Keep the tfjs wasm binaries as files (loaded by URL), never inlined.
    assetsInlineLimit: 0,
    // With tree-shaking on, gpu.js's WebGL2 kernels stop running in this bundle (the gpujs-webgl2
    // row reads "unavailable"; the adapter's kernel-map source is a string since, so the cause is
    // elsewhere, not yet found). With both off, every module is bundled as written.
    rolldownOptions: { treeshake: false, output: { minify: false } },
  },
});
