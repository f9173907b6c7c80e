import { describe, expect, it } from 'vitest';
import { clippedLearningRate, debiasBeta, rmsFromSum, weightDecayPerLr } from './step-scalars.js';

describe('debiasBeta', () => {
  it('is 0 at step 1, so the first moments equal the gradient and its square', () => {
    expect(Math.abs(debiasBeta(0.9, 1))).toBe(0);
    expect(Math.abs(debiasBeta(0.99, 1))).toBe(0);
  });

  it('matches (β^t − β)/(β^t − 1) worked by hand', () => {
    // t = 2, β = 0.9: (0.81 − 0.9)/(0.81 − 1) = 0.09/0.19.
    expect(debiasBeta(0.9, 2)).toBeCloseTo(0.09 / 0.19, 15);
    // t = 3, β = 0.5: (0.125 − 0.5)/(0.125 − 1) = 0.375/0.875 = 3/7.
    expect(debiasBeta(0.5, 3)).toBeCloseTo(3 / 7, 15);
  });

  it('tends to β as t grows', () => {
    expect(debiasBeta(0.9, 500)).toBeCloseTo(0.9, 12);
  });
});

describe('clippedLearningRate', () => {
  it('leaves lr alone when RMS ≤ 1', () => {
    expect(clippedLearningRate(1e-3, 0.5)).toBe(1e-3);
    expect(clippedLearningRate(1e-3, 1)).toBe(1e-3);
  });

  it('divides lr by RMS when RMS > 1', () => {
    expect(clippedLearningRate(1e-3, 4)).toBe(2.5e-4);
  });

  it("does not clip on NaN RMS (Python's max(1, NaN) = 1)", () => {
    expect(clippedLearningRate(1e-3, Number.NaN)).toBe(1e-3);
  });

  it('gives 0 for an infinite RMS', () => {
    expect(clippedLearningRate(1e-3, Infinity)).toBe(0);
  });
});

describe('rmsFromSum and weightDecayPerLr', () => {
  it('computes √(sum/n)', () => {
    expect(rmsFromSum(16, 4)).toBe(2);
  });

  it('is λ for decoupled and λ/maxLr for fully decoupled decay', () => {
    expect(weightDecayPerLr(0.01, false, undefined)).toBe(0.01);
    expect(weightDecayPerLr(1e-5, true, 1e-3)).toBeCloseTo(1e-2, 15);
  });
});
