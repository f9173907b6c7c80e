import { describe, expect, it } from 'vitest';
import { errorOverLimit, observedOverLimit } from './limit-ratio.js';

const elementwise = { kind: 'elementwise', atol: 1e-6, rtol: 1e-5 } as const;

describe('errorOverLimit', () => {
  it('is |Δ| ÷ (atol + rtol·|expected|) at the worst element for an elementwise tolerance', () => {
    // Bounds: 1e-6 + 1e-5·0 = 1e-6 and 1e-6 + 1e-5·10 = 1.01e-4.
    expect(errorOverLimit([0.5e-6, 10 + 5.05e-5], [0, 10], elementwise, 'float64')).toBeCloseTo(0.5, 9);
    expect(errorOverLimit([3e-6, 10], [0, 10], elementwise, 'float64')).toBeCloseTo(3, 9);
  });

  it('is |Δ| ÷ max(ulps·ulp(expected), atol) for an ulp tolerance', () => {
    // bfloat16 ulp of 1 is 2⁻⁷; 2 ulp = 2⁻⁶ > atol 1e-4: one bfloat16 ulp off is half the limit.
    expect(errorOverLimit([1 + 2 ** -7], [1], { kind: 'ulp', ulps: 2, atol: 1e-4 }, 'bfloat16')).toBe(0.5);
    // atol 0.1 dominates: an error of 0.05 is half of it.
    expect(errorOverLimit([1.05], [1], { kind: 'ulp', ulps: 2, atol: 0.1 }, 'bfloat16')).toBeCloseTo(0.5, 12);
  });

  it('is 0 for identical values (NaN with NaN too) and Infinity for NaN against a number, a zero bound or a length mismatch', () => {
    expect(errorOverLimit([1, Number.NaN], [1, Number.NaN], elementwise, 'float32')).toBe(0);
    expect(errorOverLimit([Number.NaN], [1], elementwise, 'float32')).toBe(Number.POSITIVE_INFINITY);
    expect(errorOverLimit([1e-300], [0], { kind: 'elementwise', atol: 0, rtol: 0.1 }, 'float64')).toBe(Number.POSITIVE_INFINITY);
    expect(errorOverLimit([1, 2], [1], elementwise, 'float32')).toBe(Number.POSITIVE_INFINITY);
  });
});

describe('observedOverLimit', () => {
  const tolerances = { params: elementwise, expAvg: elementwise, expAvgSq: { kind: 'elementwise', atol: 0, rtol: 0.1 } } as const;

  it('takes the worst over params and both moments, each against its own tolerance', () => {
    const actual = {
      params: [Float64Array.of(1e-6)], // 1 × its limit
      expAvg: [Float64Array.of(0)],
      expAvgSq: [Float64Array.of(1.2)], // 0.2 off, limit 0.1·1: 2 × its limit
    };
    const expected = { params: [[0]], expAvg: [[0]], expAvgSq: [[1]] };
    expect(observedOverLimit(actual, expected, tolerances, 'float64')).toBeCloseTo(2, 12);
  });

  it('skips quantities without expectations and counts state present on one side only as Infinity', () => {
    const actual = { params: [Float64Array.of(0)], expAvg: [null], expAvgSq: [Float64Array.of(5)] };
    expect(observedOverLimit(actual, { params: [[0]] }, tolerances, 'float64')).toBe(0);
    expect(observedOverLimit(actual, { params: [[0]], expAvg: [[0]] }, tolerances, 'float64')).toBe(Number.POSITIVE_INFINITY);
    expect(observedOverLimit(actual, { params: [[0]], expAvg: [null] }, tolerances, 'float64')).toBe(0);
  });
});
