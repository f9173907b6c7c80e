/// <reference types="vite/client" />
import { expect } from 'vitest';
import { runBrowserExamples } from '../../../tooling/run-example.js';

// Every README example but the PyTorch round trip (it reads and writes files with node:fs) in
// Chromium, bundled by Vite (readme.test.ts runs them in Node). The browser project is
// cross-origin isolated, so the threaded example gets its SharedArrayBuffer and 2 workers.
runBrowserExamples(import.meta.glob('../examples/*.mjs'), (logged, file) => {
  if (file === 'param-buffer-threads.mjs') expect(logged.at(-1)?.[0]).toBe(2);
  if (file === 'quick-start.mjs') {
    const [weight, bias] = logged.at(-1) as [number, number];
    expect(weight).toBeCloseTo(3, 2);
    expect(bias).toBeCloseTo(-1, 2);
  }
});
