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
    // The gpu.js adapter's kernel-map output (`newExpAvg(x)`, an identity gpu.js turns into a second
    // output) looks pure to the bundler, whose tree-shaking and dead-code pass drop the call; gpu.js
    // then finds the subkernel never called. With both off, every module is bundled as written.
    rolldownOptions: { treeshake: false, output: { minify: false } },
  },
});
