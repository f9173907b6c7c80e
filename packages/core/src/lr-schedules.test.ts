import { describe, expect, it } from 'vitest';
import { InvalidHyperparameterError } from './errors.js';
import { constantLr, cosineDecay, linearDecay, linearWarmup, multiply, sequence, warmupCosine } from './lr-schedules.js';

const at = (schedule: (t: number) => number, ts: number[]) => ts.map((t) => schedule(t));

describe('schedules against closed forms', () => {
  it('constant', () => {
    expect(at(constantLr(), [0, 10, 1e6])).toEqual([1, 1, 1]);
    expect(constantLr(0.5)(3)).toBe(0.5);
  });

  it('linear warmup: t/steps, then 1', () => {
    expect(at(linearWarmup(4), [0, 1, 2, 4, 9])).toEqual([0, 0.25, 0.5, 1, 1]);
    expect(linearWarmup(10, { start: 0.1 })(5)).toBeCloseTo(0.55, 15);
  });

  it('cosine decay: (1 + cos(πt/T))/2, floored at end', () => {
    const s = cosineDecay(100, { end: 0.1 });
    expect(s(0)).toBe(1);
    expect(s(50)).toBeCloseTo(0.1 + 0.9 * 0.5, 15);
    expect(s(25)).toBeCloseTo(0.1 + (0.9 * (1 + Math.SQRT1_2)) / 2, 15);
    expect(s(100)).toBe(0.1);
    expect(s(1000)).toBe(0.1);
  });

  it('linear decay', () => {
    expect(at(linearDecay(10), [0, 5, 10, 11])).toEqual([1, 0.5, 0, 0]);
  });

  it('sequence restarts the clock per phase and holds the last phase', () => {
    const s = sequence([linearWarmup(2), 2], [constantLr(0.5), 3], [linearDecay(4), 4]);
    expect(at(s, [0, 1, 2, 4, 5, 7, 9, 20])).toEqual([0, 0.5, 0.5, 0.5, 1, 0.5, 0, 0]);
  });

  it('warmupCosine is warmup then cosine', () => {
    const s = warmupCosine(10, 110);
    expect(s(5)).toBe(0.5);
    expect(s(10)).toBe(1);
    expect(s(60)).toBeCloseTo(0.5, 15);
    expect(s(110)).toBe(0);
  });

  it('multiply', () => {
    expect(multiply(constantLr(0.5), linearWarmup(4))(2)).toBe(0.25);
  });

  it.each([
    ['steps', () => linearWarmup(0)],
    ['steps', () => cosineDecay(2.5)],
    ['end', () => cosineDecay(10, { end: -1 })],
    ['totalSteps', () => warmupCosine(10, 10)],
    ['phases', () => sequence()],
  ])('rejects a bad %s', (parameter, make) => {
    expect(make).toThrow(InvalidHyperparameterError);
    try {
      make();
    } catch (error) {
      expect((error as InvalidHyperparameterError).parameter).toBe(parameter);
    }
  });
});
