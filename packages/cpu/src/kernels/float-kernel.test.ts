import { describe, expect, it } from 'vitest';
import { applyUpdateFloat, updateMomentsFloat } from './float-kernel.js';

/** θ·decay rounded to float32, plus −η·m/(√v + ε) in float64, rounded: one division per element. */
function expected(theta: number, m: number, v: number, eta: number, decay: number, eps: number): number {
  return Math.fround(Math.fround(theta * decay) + (-eta * m) / (Math.sqrt(v) + eps));
}

function run(theta: number[], m: number[], v: number[], eta: number, decay: number, eps: number) {
  const data = new Float32Array(theta);
  applyUpdateFloat(data, new Float32Array(m), new Float32Array(v), null, eta, decay, eps);
  const want = theta.map((t, i) => expected(t, m[i] as number, v[i] as number, eta, decay, eps));
  return { got: [...data], want };
}

function seeded(seed: number) {
  let s = seed;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe('updateMomentsFloat, float32 arrays (four elements per iteration)', () => {
  it('stores the per-element moments and adds the same sum, for every length up to 9 and a long one', () => {
    const next = seeded(777);
    for (const n of [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10_003]) {
      const grad = Float32Array.from({ length: n }, () => (next() * 2 - 1) * 1e-2);
      const m = Float32Array.from({ length: n }, () => (next() * 2 - 1) * 1e-2);
      const v = Float32Array.from({ length: n }, () => next() ** 4 * 1e-4);
      const [b1, b2, epsSq, scale] = [0.47368421052631576, 0.4974874371859299, 1e-12, 0.5];
      const want = { m: m.slice(), v: v.slice(), sum: 0 };
      for (let i = 0; i < n; i++) {
        const g = (grad[i] as number) * scale;
        const mi = want.m[i] as number;
        want.m[i] = mi + (1 - b1) * (g - mi);
        const vi = b2 * (want.v[i] as number) + (1 - b2) * g * g;
        want.v[i] = vi;
        want.sum += (g * g) / Math.max(vi, epsSq);
      }
      expect(updateMomentsFloat(grad, m, v, b1, b2, epsSq, true, scale)).toBe(want.sum);
      expect([...m]).toEqual([...want.m]);
      expect([...v]).toEqual([...want.v]);
    }
  });
});

describe('applyUpdateFloat, float32 params (two elements per division)', () => {
  it('matches one division per element on seeded values, for every length up to 9 and a long one', () => {
    const next = seeded(12345);
    for (const n of [1, 2, 3, 4, 5, 6, 7, 8, 9, 10_001]) {
      const theta = Array.from({ length: n }, () => Math.fround(next() * 2 - 1));
      const m = Array.from({ length: n }, () => Math.fround((next() * 2 - 1) * 1e-2));
      const v = Array.from({ length: n }, () => Math.fround(next() ** 4 * 1e-4));
      const { got, want } = run(theta, m, v, 1e-3, 1 - 1e-5, 1e-6);
      expect(got.filter((x, i) => x !== want[i]).length).toBe(0);
    }
  });

  it('keeps a lane with v = ∞, v = NaN or a zero denominator from changing its neighbour', () => {
    // Six lanes: pair (0, 1) runs before the four-element loop, pairs (2, 3) and (4, 5) in it.
    const theta = [0.5, 0.25, 0.5, 0.25, 0.5, 0.25];
    const m = [0.1, 0.1, 0.1, 0.1, 0, 0.1];
    const v = [Number.POSITIVE_INFINITY, 0.01, Number.NaN, 0.01, 0, 0.01];
    const { got, want } = run(theta, m, v, 1e-3, 1, 0);
    // Lanes 0, 1, 3 and 5 stay finite and exact; lane 2 (NaN v) and lane 4 (0/0) are NaN, as per element.
    expect(got).toEqual(want);
    expect(Number.isFinite(got[1])).toBe(true);
    expect(Number.isNaN(got[2])).toBe(true);
  });
});
