import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      { test: { name: 'node', include: ['src/**/*.test.ts'], exclude: ['src/**/*.chromium.test.ts'] } },
      // The built page in headless Chromium (a Node test driving the browser through playwright-core).
      { test: { name: 'chromium', include: ['src/**/*.chromium.test.ts'], testTimeout: 240_000, hookTimeout: 120_000 } },
    ],
  },
});
