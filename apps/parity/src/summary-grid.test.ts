import { describe, expect, it } from 'vitest';
import { cellColour, formatRatio, passColour, scenarioFamily } from './summary-grid.js';

describe('the summary grid', () => {
  it('labels ratios in a few characters', () => {
    expect([0, 3.2e-5, 0.0042, 0.4249, 1, 17, 2345, null, Number.POSITIVE_INFINITY].map(formatRatio)).toEqual([
      'exact',
      '3e-5',
      '4e-3',
      '0.42',
      '1',
      '17',
      '2e3',
      '∞',
      '∞',
    ]);
  });

  it('colours exact, passing (green towards yellow at the pass line), failed, crashed and allowed-outlier runs apart', () => {
    const pass = (ratio: number) => cellColour({ pass: true, worstErrorOverLimit: ratio, maxAbsError: 1 });
    const colours = [
      pass(0),
      pass(1e-4),
      pass(1),
      pass(3),
      cellColour({ pass: false, worstErrorOverLimit: 3, maxAbsError: 1 }),
      cellColour({ pass: false, worstErrorOverLimit: null, maxAbsError: null }),
    ];
    expect(new Set(colours).size).toBe(colours.length);
    // Far under the tolerance is green (hue 125), at it yellow-green (hue 55); below 10⁻⁴ it stays green.
    expect(passColour(1e-4)).toBe('hsl(125, 62%, 50%)');
    expect(passColour(1e-9)).toBe(passColour(1e-4));
    expect(passColour(1)).toBe('hsl(55, 62%, 58%)');
  });

  it('lines up scenarios of different dtypes', () => {
    expect(['spikes-float32', 'spikes-bfloat16', 'golden/defaults-f32'].map(scenarioFamily)).toEqual([
      'spikes',
      'spikes',
      'golden/defaults-f32',
    ]);
  });
});
