import { expect } from 'vitest';

const checks: Record<string, (logged: unknown[]) => void> = {
  'quick-start.mjs': ([logged]) => {
    const fitted = logged as Float32Array;
    expect(fitted[0]).toBeCloseTo(3, 1);
    expect(fitted[1]).toBeCloseTo(-1, 1);
  },
  'gradient-map.mjs': ([logged]) => {
    const [a, b] = logged as Float32Array[];
    expect(a?.[0]).toBeCloseTo(2, 1);
    expect(a?.[1]).toBeCloseTo(2, 1);
    expect(b?.[0]).toBeCloseTo(-1, 1);
  },
  // One overflowing step skipped, the scale halved once.
  'loss-scaling.mjs': (logged) => {
    const [fitted, skipped, scale] = logged as [Float32Array, number, number];
    expect(fitted[0]).toBeCloseTo(3, 1);
    expect(fitted[1]).toBeCloseTo(-1, 1);
    expect(skipped).toBe(1);
    expect(scale).toBe(2 ** 15);
  },
  // y = 2·x0 − x1 + 0.5, the bias in the first (no-decay) group.
  'training-loop.mjs': ([logged]) => {
    const [bias, weight] = logged as Float32Array[];
    expect(bias?.[0]).toBeCloseTo(0.5, 2);
    expect(weight?.[0]).toBeCloseTo(2, 2);
    expect(weight?.[1]).toBeCloseTo(-1, 2);
  },
};

/** What each README example must have fitted, from the arguments of its last `console.log`. */
export function checkExampleOutput(file: string, logged: unknown[] | undefined): void {
  const check = checks[file];
  if (!check) throw new Error(`examples/${file} has no output check: add one to readme-checks.ts`);
  check(logged ?? []);
}
