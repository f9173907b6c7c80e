import { describe, expect, it, vi } from 'vitest';
import { type ArrayTensor, arrayBackend, arrayParam } from '../examples/array-adapter.js';
import type { TensorStep } from './contract.js';
import { InvalidParamError, StateDictError, UnsupportedBackendError } from './errors.js';
import { DynamicLossScaler } from './loss-scaler.js';
import { StableAdamWOptimizer } from './optimizer.js';
import type { StableAdamWOptions } from './options.js';
import { ReferenceStableAdamW } from './reference.js';
import { momentScalars } from './step-scalars.js';

type Step = TensorStep<ArrayTensor, ArrayTensor, Parameters<typeof arrayBackend.applyUpdate>[2]>;

const INIT = [
  [1, -2, 3],
  [0.5, 0.25],
];

/**
 * A backend that decides 'skip' itself, as a GPU without readback does: it keeps its own group
 * step, skip count and scaler state, runs clean steps with the betas of ITS step, and the test
 * reconciles the host from it.
 */
function deviceOptimizer(options: StableAdamWOptions, groups = false) {
  const params = INIT.map((values) => arrayParam(values));
  const device = { clean: 0, skipped: 0, last: false, scale: options.lossScaler?.scale ?? 1, tracker: 0 };
  const seen: Step[][] = [];
  const findNonFinite = vi.fn(arrayBackend.findNonFinite);
  const backend = {
    ...arrayBackend,
    findNonFinite,
    skipsOnDevice: () => true,
    stepTensorsOnDevice(items: readonly Step[]) {
      seen.push([...items]);
      const bad = items.some(({ grad }) => !grad.values.every(Number.isFinite));
      device.last = bad;
      if (bad) {
        device.skipped += 1;
        device.scale /= 2;
        device.tracker = 0;
        return;
      }
      device.clean += 1;
      for (const { param, grad, state, moments, update } of items) {
        const own = { ...momentScalars([0.9, 0.99], 1e-6, device.clean, 'float64', true), gradScale: 1 / device.scale };
        expect(moments.epsSq).toBe(own.epsSq);
        arrayBackend.applyUpdate(param, grad, state, arrayBackend.updateMoments(param, grad, state, own), update);
      }
    },
  };
  const opt = new StableAdamWOptimizer(backend, groups ? params.map((p) => ({ params: [p] })) : params, options);
  const reconcile = () =>
    opt.reconcileCounters({
      groupSteps: opt.paramGroups.map(() => device.clean),
      skippedSteps: device.skipped,
      lastStepSkipped: device.last,
      ...(options.lossScaler ? { lossScaler: { scale: device.scale, growthTracker: device.tracker } } : {}),
    });
  return { opt, params, device, seen, findNonFinite, reconcile };
}

const grads = (params: ArrayTensor[], bad?: number) =>
  new Map(
    params.map((p, i) => [
      p,
      arrayParam(p.values.map((x, j) => (i === 1 && j === 0 && bad !== undefined ? bad : 0.1 * (x + j)))),
    ]),
  );

describe('counters kept on the device (skipsOnDevice)', () => {
  it("leaves the 'skip' decision and every counter to the device, and reconciles to it", () => {
    const scaler = new DynamicLossScaler({ initScale: 8 });
    const { opt, params, device, seen, findNonFinite, reconcile } = deviceOptimizer({
      lr: 0.1,
      nonFinite: 'skip',
      lossScaler: scaler,
    });
    const reference = new ReferenceStableAdamW(INIT, [{ params: [0, 1], hyperparameters: { ...opt.defaults } }], 'float64');
    const sequence = [undefined, Number.NaN, undefined, Number.POSITIVE_INFINITY, undefined];
    for (const bad of sequence) {
      const g = grads(params, bad);
      // The loss was multiplied by the device's scale, as minimize does on a device.
      opt.step(new Map([...g].map(([p, x]) => [p, arrayParam(x.values.map((v) => v * device.scale))])));
      // Nothing moves on the host until reconciled.
      expect(opt.readCounters()).toEqual({
        groupSteps: [0],
        skippedSteps: 0,
        lastStepSkipped: false,
        lossScaler: { scale: 8, growthTracker: 0 },
      });
      if (bad === undefined) reference.step([...g.values()].map((x) => x.values));
    }
    expect(findNonFinite).not.toHaveBeenCalled();
    // The host's scalars are those of a clean step at its (unreconciled) counters.
    expect(seen[4]?.[0]?.moments.beta1Hat).toBe(momentScalars([0.9, 0.99], 1e-6, 1, 'float64', true).beta1Hat);
    reconcile();
    expect(opt.readCounters()).toEqual({
      groupSteps: [3],
      skippedSteps: 2,
      lastStepSkipped: false,
      lossScaler: { scale: 2, growthTracker: 0 },
    });
    expect([opt.skippedSteps, opt.lastStepSkipped, scaler.scale]).toEqual([2, false, 2]);
    params.forEach((p, i) => {
      expect(Array.from(p.values)).toEqual(Array.from(reference.params[i] as Float64Array));
    });
    expect(device.clean).toBe(3);
  });

  it('hands the device steps without gradients, which it counts', () => {
    const { opt, seen } = deviceOptimizer({ lr: 0.1, nonFinite: 'skip' });
    opt.step(new Map());
    expect(seen).toEqual([[]]);
  });

  it("still asks about 'throw' groups on the host, before the device runs", () => {
    const { opt, params, seen, findNonFinite } = deviceOptimizer({ lr: 0.1, nonFinite: 'skip' }, true);
    (opt.paramGroups[1] as { nonFinite: string }).nonFinite = 'throw';
    opt.step(grads(params));
    expect(findNonFinite).toHaveBeenCalledTimes(1);
    expect(findNonFinite.mock.calls[0]?.[0].map(({ param }) => param)).toEqual([params[1]]);
    expect(() => opt.step(grads(params, Number.NaN))).toThrow(/non-finite|NaN/i);
    expect(seen).toHaveLength(1);
  });

  it("lets core decide when no group is 'skip'", () => {
    const { opt, params, seen } = deviceOptimizer({ lr: 0.1 });
    opt.step(grads(params));
    expect(seen).toEqual([]);
    expect(opt.paramGroups[0]?.step).toBe(1);
  });

  it('drops the state a refused device step created, and moves no counter', () => {
    const { opt, params } = deviceOptimizer({ lr: 0.1, nonFinite: 'skip' });
    const refusing = opt as unknown as { backend: { stepTensorsOnDevice: () => void } };
    refusing.backend.stepTensorsOnDevice = () => {
      throw new UnsupportedBackendError('refused', 'fix');
    };
    expect(() => opt.step(grads(params))).toThrow(UnsupportedBackendError);
    expect(Object.keys((opt.stateDict() as { state: object }).state)).toEqual([]);
    expect(opt.readCounters().groupSteps).toEqual([0]);
  });

  it('validates reconciled counters before changing anything', () => {
    const scaler = new DynamicLossScaler({ initScale: 8, growthInterval: 4 });
    const { opt } = deviceOptimizer({ lr: 0.1, nonFinite: 'skip', lossScaler: scaler }, true);
    const good = { groupSteps: [2, 2], skippedSteps: 1, lastStepSkipped: true, lossScaler: { scale: 4, growthTracker: 3 } };
    const before = opt.readCounters();
    const bad: [unknown, typeof InvalidParamError | typeof StateDictError, RegExp][] = [
      [{ ...good, groupSteps: [2] }, InvalidParamError, /counters\.groupSteps/],
      [{ ...good, groupSteps: [2, -1] }, InvalidParamError, /counters\.groupSteps\[1\]/],
      [{ ...good, skippedSteps: 0.5 }, InvalidParamError, /counters\.skippedSteps/],
      [{ ...good, lastStepSkipped: 1 }, InvalidParamError, /counters\.lastStepSkipped/],
      [{ ...good, lossScaler: undefined }, InvalidParamError, /counters\.lossScaler/],
      [{ ...good, lossScaler: { scale: 0, growthTracker: 0 } }, StateDictError, /counters\.lossScaler\.scale/],
      [{ ...good, lossScaler: { scale: 4, growthTracker: 4 } }, StateDictError, /counters\.lossScaler\.growth_tracker/],
    ];
    for (const [values, type, message] of bad) {
      expect(() => opt.reconcileCounters(values as never)).toThrow(type);
      expect(() => opt.reconcileCounters(values as never)).toThrow(message);
      expect(opt.readCounters()).toEqual(before);
    }
    opt.reconcileCounters(good);
    expect(opt.readCounters()).toEqual(good);
    expect(scaler.stateDict()).toMatchObject({ scale: 4, growth_tracker: 3 });
    expect(opt.stateDict()).toMatchObject({ skipped_steps: 1, param_groups: [{ step: 2 }, { step: 2 }] });
  });
});
