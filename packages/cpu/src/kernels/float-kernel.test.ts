import { describe, expect, it } from 'vitest';
import { applyUpdateFloat } from './float-kernel.js';

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

describe('applyUpdateFloat, float32 params (two elements per division)', () => {
  it('matches one division per element on seeded values, odd length included', () => {
    let s = 12345;
    const next = () => {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      return s / 2 ** 32;
    };
    const n = 10_001;
    const theta = Array.from({ length: n }, () => Math.fround(next() * 2 - 1));
    const m = Array.from({ length: n }, () => Math.fround((next() * 2 - 1) * 1e-2));
    const v = Array.from({ length: n }, () => Math.fround(next() ** 4 * 1e-4));
    const { got, want } = run(theta, m, v, 1e-3, 1 - 1e-5, 1e-6);
    expect(got.filter((x, i) => x !== want[i]).length).toBe(0);
  });

  it('keeps a lane with v = ∞, v = NaN or a zero denominator from changing its neighbour', () => {
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
