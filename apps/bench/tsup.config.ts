import { defineConfig } from 'tsup';

export default defineConfig([
  { entry: { cli: 'src/cli.ts' }, format: ['esm'], sourcemap: true, target: 'node20' },
  {
    // The page's runner with every browser subject, adapters, backends and core in one module.
    entry: { 'browser/entry': 'src/browser/entry.ts' },
    format: ['esm'],
    platform: 'browser',
    target: 'es2022',
    noExternal: [/.*/],
    splitting: false,
    sourcemap: true,
  },
]);
