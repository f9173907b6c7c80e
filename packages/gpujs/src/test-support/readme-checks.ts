import { expect } from 'vitest';

/** What each README example must have fitted, from the first argument of its last `console.log`. */
export function checkExampleOutput(file: string, logged: unknown): void {
  if (file === 'quick-start.ts') {
    const fitted = logged as Float32Array;
    expect(fitted[0]).toBeCloseTo(3, 1);
    expect(fitted[1]).toBeCloseTo(-1, 1);
    return;
  }
  // training-loop.ts: y = 2·x0 − x1 + 0.5, the bias in the first (no-decay) group.
  const [bias, weight] = logged as Float32Array[];
  expect(bias?.[0]).toBeCloseTo(0.5, 2);
  expect(weight?.[0]).toBeCloseTo(2, 2);
  expect(weight?.[1]).toBeCloseTo(-1, 2);
}
