import { describe, expect, it } from 'vitest';
import { InvalidHyperparameterError } from './errors.js';
import { LrScheduler } from './lr-scheduler.js';
import {
  constantLr,
  cosineDecay,
  type LrSchedule,
  linearDecay,
  linearLr,
  linearWarmup,
  multiply,
  sequence,
  warmupCosine,
} from './lr-schedules.js';

const at = (schedule: (t: number) => number, ts: number[]) => ts.map((t) => schedule(t));

describe('schedules against closed forms', () => {
  it('constant', () => {
    expect(at(constantLr(), [0, 10, 1e6])).toEqual([1, 1, 1]);
    expect(constantLr(0.5)(3)).toBe(0.5);
  });

  it('constant with steps: factor for `steps` steps, then 1', () => {
    expect(at(constantLr(0.5, { steps: 3 }), [0, 2, 3, 100])).toEqual([0.5, 0.5, 1, 1]);
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
    ['steps', () => constantLr(0.5, { steps: 0 })],
    ['factor', () => constantLr(-1, { steps: 2 })],
  ])('rejects a bad %s', (parameter, make) => {
    expect(make).toThrow(InvalidHyperparameterError);
    try {
      make();
    } catch (error) {
      expect((error as InvalidHyperparameterError).parameter).toBe(parameter);
    }
  });
});

/**
 * The lr each optimizer step uses under a scheduler stepped after every optimizer step, as PyTorch
 * runs it: read the group lr, `optimizer.step()`, `scheduler.step()`.
 */
function lrsUsed(schedule: LrSchedule, steps: number): number[] {
  const optimizer = { paramGroups: [{ lr: 1, decoupleLr: false, maxLr: undefined }] };
  const scheduler = new LrScheduler(optimizer, schedule);
  const lrs: number[] = [];
  for (let i = 0; i < steps; i++) {
    lrs.push(optimizer.paramGroups[0]?.lr as number);
    scheduler.step();
  }
  return lrs;
}

// Expected values produced by PyTorch 1.13 (Debian python3-torch): SGD over one param with lr=1.0,
// scheduler built on it, then for each step: record param_groups[0]["lr"], opt.step(), sched.step().
describe('PyTorch schedulers → this library', () => {
  it('ConstantLR(factor=0.5, total_iters=3) is constantLr(0.5, { steps: 3 })', () => {
    expect(lrsUsed(constantLr(0.5, { steps: 3 }), 9)).toEqual([0.5, 0.5, 0.5, 1, 1, 1, 1, 1, 1]);
  });

  it("ConstantLR's defaults (factor=1/3, total_iters=5) are constantLr(1 / 3, { steps: 5 })", () => {
    const third = 0.3333333333333333;
    expect(lrsUsed(constantLr(1 / 3, { steps: 5 }), 9)).toEqual([third, third, third, third, third, 1, 1, 1, 1]);
  });

  it('LinearLR(start_factor=0.25, end_factor=1, total_iters=4) is linearLr(4, { start: 0.25, end: 1 })', () => {
    expect(lrsUsed(linearLr(4, { start: 0.25, end: 1 }), 9)).toEqual([0.25, 0.4375, 0.625, 0.8125, 1, 1, 1, 1, 1]);
  });

  it('CosineAnnealingLR(T_max=4, eta_min=0.1) is cosineDecay(4, { end: 0.1 }) up to T_max; after it, ours stays at end', () => {
    const torch = [1.0, 0.8681980515339464, 0.55, 0.23180194846605368, 0.1, 0.2318019484660536, 0.55, 0.8681980515339467];
    const ours = lrsUsed(cosineDecay(4, { end: 0.1 }), 8);
    ours.slice(0, 5).forEach((lr, i) => {
      expect(lr).toBeCloseTo(torch[i] as number, 15);
    });
    // torch's recursive form climbs back up after T_max; cosineDecay holds its end value.
    expect(ours.slice(5)).toEqual([0.1, 0.1, 0.1]);
  });

  it('SequentialLR([LinearLR(0.25, 1, 2), CosineAnnealingLR(4, 0.1)], milestones=[2]) is sequence(...) up to the end of the cosine', () => {
    const torch = [0.25, 0.625, 1.0, 0.8681980515339464, 0.55, 0.23180194846605368, 0.1, 0.2318019484660536, 0.55];
    const ours = lrsUsed(sequence([linearLr(2, { start: 0.25, end: 1 }), 2], [cosineDecay(4, { end: 0.1 }), 4]), 9);
    ours.slice(0, 7).forEach((lr, i) => {
      expect(lr).toBeCloseTo(torch[i] as number, 15);
    });
    expect(ours.slice(7)).toEqual([0.1, 0.1]);
  });
});
