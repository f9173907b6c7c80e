import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (path: string) => fileURLToPath(new URL(`./src/${path}`, import.meta.url));

export default defineConfig({
  // Examples import the package by name: run them against the sources.
  resolve: {
    alias: [
      { find: /^@stable-adamw\/core$/, replacement: src('index.ts') },
      { find: /^@stable-adamw\/core\/adapter$/, replacement: src('adapter.ts') },
    ],
  },
  test: { include: ['src/**/*.test.ts'], testTimeout: 60_000 },
});
