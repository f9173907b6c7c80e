import { defineConfig } from 'tsup';

// One build for both entries, split into shared chunks, so the user entry and the adapter entry
// share one copy of every class (an error thrown by the optimizer is the class users import).
// No source maps: they would double the package for code that is small and readable as built.
export default defineConfig({
  entry: { index: 'src/index.ts', adapter: 'src/adapter.ts' },
  format: ['esm', 'cjs'],
  splitting: true,
  dts: true,
  target: 'es2022',
  clean: true,
  sourcemap: false,
});
