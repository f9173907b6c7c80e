import { describe, expect, it } from 'vitest';
import { summarize } from './stats.js';

describe('summarize', () => {
  it('takes the median and quartiles of unsorted times', () => {
    expect(summarize([5, 1, 3, 2, 4])).toEqual({ medianMs: 3, q1Ms: 2, q3Ms: 4, minMs: 1, maxMs: 5, steps: 5 });
  });

  it('interpolates an even count', () => {
    const s = summarize([10, 20, 30, 40]);
    expect(s.medianMs).toBe(25);
    expect(s.q1Ms).toBe(17.5);
  });

  it('refuses no data', () => {
    expect(() => summarize([])).toThrow(/no timed steps/);
  });
});
