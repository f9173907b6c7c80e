import { defineConfig } from 'tsup';

export default defineConfig([
  { entry: { cli: 'src/cli.ts' }, format: ['esm'], sourcemap: true, target: 'node20' },
  {
    // Everything the page needs, in one module: adapters, their backends and core.
    entry: { 'browser/entry': 'src/browser/entry.ts' },
    format: ['esm'],
    platform: 'browser',
    target: 'es2022',
    noExternal: [/.*/],
    splitting: false,
    sourcemap: true,
  },
]);
