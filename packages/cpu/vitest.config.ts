import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  // README examples import the package by name: run them against the sources.
  resolve: { alias: { '@stable-adamw/cpu': fileURLToPath(new URL('./src/index.ts', import.meta.url)) } },
  test: { include: ['src/**/*.test.ts'], testTimeout: 60_000 },
});
