import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { index: 'src/index.ts' },
  format: ['esm', 'cjs'],
  dts: true,
  // esnext keeps the `with { type: 'json' }` import attributes Node needs for the fixtures.
  target: 'esnext',
  clean: true,
  // No source maps: the code ships unminified and readable as built; maps doubled the tarball.
  sourcemap: false,
  // The golden JSON stays in fixtures/ and is imported on first use, never bundled.
  external: [/\/fixtures\//],
});
