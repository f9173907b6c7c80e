import { defineConfig } from 'tsup';

/**
 * The build every adapter package shares: its user entry and its `./testing` entry, ESM and CJS
 * with types. Dependencies and peers stay external (tsup's default), and so does the package's own
 * name, so `./testing` imports the entry instead of bundling a second copy of it.
 */
export function adapterBuild(packageName: string) {
  return defineConfig({
    entry: { index: 'src/index.ts', testing: 'src/testing/index.ts' },
    format: ['esm', 'cjs'],
    dts: true,
    clean: true,
    // No source maps: the code ships unminified and readable as built; maps doubled the tarball.
    sourcemap: false,
    target: 'es2022',
    external: [packageName],
    splitting: true,
  });
}
