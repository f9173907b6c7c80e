import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { index: 'src/index.ts', testing: 'src/testing/index.ts' },
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  // No source maps: the code ships unminified and readable as built; maps doubled the tarball.
  sourcemap: false,
  target: 'es2022',
});
