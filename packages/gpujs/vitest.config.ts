import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';
import { chromiumProvider, jsonImportAttributes } from '../../tooling/vitest-browser.js';

// README examples import the package by name: run them against the sources.
const alias = { '@stable-adamw/gpujs': fileURLToPath(new URL('./src/index.ts', import.meta.url)) };

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
