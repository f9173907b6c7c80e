import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';
import { chromiumProvider, jsonImportAttributes } from '../../tooling/vitest-browser.js';

// README examples import the package by name: run them against the sources.
const source = (path: string) => fileURLToPath(new URL(`./src/${path}`, import.meta.url));
const alias = [
  { find: /^@stable-adamw\/tfjs$/, replacement: source('index.ts') },
  { find: /^@stable-adamw\/tfjs\/testing$/, replacement: source('testing/index.ts') },
];

// Headless Chromium from the system (never downloaded), with WebGL and WebGPU on SwiftShader.
const chromium = chromiumProvider();

export default defineConfig({
  resolve: { alias },
  test: {
    projects: [
      {
        extends: true,
        test: {
          name: 'node',
          include: ['src/**/*.test.ts'],
          exclude: ['src/**/*.browser.test.ts'],
          testTimeout: 120_000,
        },
      },
      {
        extends: true,
        plugins: [jsonImportAttributes()],
        // Pre-bundled up front: discovering them mid-run makes Vite reload the page, which drops
        // the WebGPU device of a running test on a fresh machine.
        optimizeDeps: {
          include: [
            '@tensorflow/tfjs-core',
            '@tensorflow/tfjs-backend-cpu',
            '@tensorflow/tfjs-backend-webgl',
            '@tensorflow/tfjs-backend-webgpu',
            '@tensorflow/tfjs-layers',
          ],
        },
        test: {
          name: 'browser',
          include: ['src/**/*.browser.test.ts'],
          testTimeout: 300_000,
          browser: {
            enabled: true,
            headless: true,
            provider: chromium,
            instances: [{ browser: 'chromium' }],
            screenshotFailures: false,
          },
        },
      },
    ],
  },
});
