/// <reference types="vite/client" />
import { expect } from 'vitest';
import { runBrowserExamples } from '../../../tooling/run-example.js';

// Every README example in Chromium, bundled by Vite (readme.test.ts runs them in Node).
runBrowserExamples(import.meta.glob('../examples/*.mjs'), (logged, file) => {
  const last = logged.at(-1) ?? [];
  if (file === 'conformance.mjs') expect(last[0]).toMatch(/^\d+ conformance cases passed on tfjs-cpu$/);
  // 5 epochs of 4 batches, then 8 micro-batches: one step counter tick per call.
  if (file === 'gradient-release.mjs') expect(last).toEqual(['steps per variable', 28]);
  // Layer weights start random (unseeded): the loss is only known to be a finite number.
  if (file === 'model-fit.mjs') expect(Number.isFinite(last[1])).toBe(true);
});
