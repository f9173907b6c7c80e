import { defineConfig, type Options } from 'tsup';

const common: Options = { format: ['esm', 'cjs'], dts: true, target: 'es2022' };

export default defineConfig([
  { ...common, entry: { index: 'src/index.ts' }, clean: true, sourcemap: true },
  // The testing entry bundles the golden trajectories (megabytes of JSON): no source map for it.
  { ...common, entry: { testing: 'src/testing/index.ts' }, sourcemap: false },
]);
