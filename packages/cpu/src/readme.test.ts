import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { describeReadmeExamples } from '../../../tooling/readme-examples.js';

describeReadmeExamples(new URL('../', import.meta.url), (logged, file) => {
  if (file !== 'float16-loss-scaling.mjs') return;
  // Hand-derived: unscaled, the first output gradient (≈ 1e9 · 1e-4 · |w − truth| ≈ 1e5) overflows
  // float16 and the Inf reaches every weight. Scaled, the scale halves from 2^16 until 1e5 · scale
  // fits in 65504 (at most 2^-1; a few more halvings while sums of several such terms overflow), and
  // the weights then converge to the truth the gradients point to.
  const [[plain, scaled, scale]] = logged as [[{ w: number[] }, { w: number[]; skipped: number }, number]];
  expect(plain.w.every(Number.isNaN)).toBe(true);
  expect(scale).toBeLessThanOrEqual(0.5);
  expect(scaled.skipped).toBe(Math.log2(2 ** 16 / scale));
  [0.5, -0.25, 0.75, -1].forEach((t, j) => {
    expect(Math.abs((scaled.w[j] as number) - t)).toBeLessThan(0.02);
  });
});

it("shows examples/quick-start.mjs verbatim in the root README's Quick start", () => {
  const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
  const at = readme.indexOf('## Quick start');
  const section = readme.slice(at, readme.indexOf('\n## ', at + 1));
  const example = readFileSync(new URL('../examples/quick-start.mjs', import.meta.url), 'utf8').trim();
  expect(section).toContain(`\`\`\`js\n${example}\n\`\`\``);
});
