import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';
import { chromiumProvider, jsonImportAttributes } from '../../tooling/vitest-browser.js';

// README examples import the package by name: run them against the sources.
const source = (path: string) => fileURLToPath(new URL(`./src/${path}`, import.meta.url));
const alias = [
  { find: /^@stable-adamw\/cpu$/, replacement: source('index.ts') },
  { find: /^@stable-adamw\/cpu\/testing$/, replacement: source('testing/index.ts') },
];

export default defineConfig({
  resolve: { alias },
  // Cross-origin isolation, so the browser project has SharedArrayBuffer for worker threads.
  server: {
    headers: { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' },
  },
  test: {
    projects: [
      {
        extends: true,
        test: {
          name: 'node',
          include: ['src/**/*.test.ts'],
          exclude: ['src/**/*.browser.test.ts'],
          testTimeout: 60_000,
        },
      },
      {
        extends: true,
        plugins: [jsonImportAttributes()],
        test: {
          name: 'browser',
          include: ['src/**/*.browser.test.ts'],
          testTimeout: 120_000,
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
