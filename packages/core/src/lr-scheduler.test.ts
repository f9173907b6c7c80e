import { describe, expect, it, vi } from 'vitest';
import { arrayOptimizer, arrayParam } from '../examples/array-adapter.js';
import { InvalidHyperparameterError } from './errors.js';
import { LrScheduler } from './lr-scheduler.js';
import { cosineDecay, linearWarmup, warmupCosine } from './lr-schedules.js';

function twoGroups() {
  return arrayOptimizer([{ params: [arrayParam([1])] }, { params: [arrayParam([2])], lr: 0.1 }], { lr: 1e-2 });
}

describe('LrScheduler', () => {
  it('scales each group from its base lr, starting at step 0', () => {
    const opt = twoGroups();
    const scheduler = new LrScheduler(opt, linearWarmup(4));
    expect(scheduler.lastLrs).toEqual([0, 0]);
    scheduler.step();
    expect(opt.paramGroups.map((g) => g.lr)).toEqual([0.0025, 0.025]);
    for (let i = 0; i < 5; i++) scheduler.step();
    expect(scheduler.lastLrs).toEqual([1e-2, 0.1]);
  });

  it('takes one schedule per group', () => {
    const opt = twoGroups();
    const scheduler = new LrScheduler(opt, [linearWarmup(2), cosineDecay(2)]);
    scheduler.step();
    expect(scheduler.lastLrs[0]).toBe(0.005);
    expect(scheduler.lastLrs[1]).toBeCloseTo(0.05, 15);
    expect(() => new LrScheduler(opt, [linearWarmup(2)])).toThrow(InvalidHyperparameterError);
  });

  it('drives the step math: the optimizer uses the scheduled lr', () => {
    const p = arrayParam([1]);
    const opt = arrayOptimizer([p], { lr: 0.1, weightDecay: 0 });
    const scheduler = new LrScheduler(opt, warmupCosine(1, 3));
    p.grad = arrayParam([1]);
    opt.step(); // lr 0 at step 0
    expect(p.values[0]).toBe(1);
    scheduler.step();
    opt.step(); // lr 0.1 · 1: v = m = 1 after a constant gradient, so Δ = −0.1/(1 + 1e-6)
    expect(p.values[0]).toBeCloseTo(1 - 0.1 / (1 + 1e-6), 14);
  });

  it('warns once when a schedule exceeds maxLr of a fully decoupled group', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    const opt = arrayOptimizer([arrayParam([1])], { lr: 1e-3, decoupleLr: true, weightDecay: 1e-5 });
    const scheduler = new LrScheduler(opt, (t) => 1 + t);
    expect(warn).not.toHaveBeenCalled();
    scheduler.step();
    scheduler.step();
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0]?.[0]).toContain('above its maxLr 0.001');
    warn.mockRestore();
  });

  it('saves and restores its position', () => {
    const a = new LrScheduler(twoGroups(), cosineDecay(10));
    for (let i = 0; i < 4; i++) a.step();
    const opt = twoGroups();
    const b = new LrScheduler(opt, cosineDecay(10));
    b.loadStateDict(JSON.parse(JSON.stringify(a.stateDict())));
    expect(b.lastLrs).toEqual(a.lastLrs);
    expect(() => b.loadStateDict({ step: -1, baseLrs: [1, 1] })).toThrow(InvalidHyperparameterError);
    expect(b.lastLrs).toEqual(a.lastLrs);
  });

  it('rejects a schedule that returns an invalid factor', () => {
    expect(() => new LrScheduler(twoGroups(), () => Number.NaN)).toThrow(/invalid lr/);
  });
});
