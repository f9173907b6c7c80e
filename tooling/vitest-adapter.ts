import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';
import { chromiumProvider, jsonImportAttributes } from './vitest-browser.js';

export interface AdapterTestOptions {
  /** The package's name: README examples import it by name, so it resolves to the sources. */
  readonly packageName: string;
  /** The package's folder, `new URL('.', import.meta.url)` in its vitest config. */
  readonly root: URL;
  readonly nodeTimeout: number;
  readonly browserTimeout: number;
  /** Serve the browser project cross-origin isolated (SharedArrayBuffer for worker threads). */
  readonly crossOriginIsolated?: boolean;
  /** Dependencies Vite pre-bundles for the browser project. */
  readonly optimizeDeps?: readonly string[];
}

/**
 * The vitest config every adapter package shares: a `node` project (`*.test.ts`) and a `browser`
 * project (`*.browser.test.ts`) in headless Debian Chromium, never downloaded, with WebGL and
 * WebGPU on SwiftShader.
 */
export function adapterTestConfig(o: AdapterTestOptions) {
  const source = (path: string) => fileURLToPath(new URL(`src/${path}`, o.root));
  const name = o.packageName.replace('/', '\\/');
  return defineConfig({
    resolve: {
      alias: [
        { find: new RegExp(`^${name}$`), replacement: source('index.ts') },
        { find: new RegExp(`^${name}\\/testing$`), replacement: source('testing/index.ts') },
      ],
    },
    ...(o.crossOriginIsolated
      ? { server: { headers: { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' } } }
      : {}),
    test: {
      projects: [
        {
          extends: true,
          test: {
            name: 'node',
            include: ['src/**/*.test.ts'],
            exclude: ['src/**/*.browser.test.ts'],
            testTimeout: o.nodeTimeout,
          },
        },
        {
          extends: true,
          plugins: [jsonImportAttributes()],
          ...(o.optimizeDeps ? { optimizeDeps: { include: [...o.optimizeDeps] } } : {}),
          test: {
            name: 'browser',
            include: ['src/**/*.browser.test.ts'],
            testTimeout: o.browserTimeout,
            browser: {
              enabled: true,
              headless: true,
              provider: chromiumProvider(),
              instances: [{ browser: 'chromium' }],
              screenshotFailures: false,
            },
          },
        },
      ],
    },
  });
}
