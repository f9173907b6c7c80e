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

describe('gradient release decided on the device (stepParamOnDevice)', () => {
  /** A device keeping each param's clean count, the skip count, the last flag and "skipped since step()". */
  function releaseOptimizer(options: StableAdamWOptions) {
    const params = INIT.map((values) => arrayParam(values));
    const device = { steps: [0, 0], skipped: 0, last: false, since: false };
    const findNonFinite = vi.fn(arrayBackend.findNonFinite);
    const backend = {
      ...arrayBackend,
      findNonFinite,
      skipsParamOnDevice: () => true,
      stepParamOnDevice({ param, grad, state, moments, update }: Step) {
        const i = params.indexOf(param);
        if (!grad.values.every(Number.isFinite)) {
          device.skipped += 1;
          device.last = true;
          device.since = true;
          return;
        }
        device.steps[i] = (device.steps[i] as number) + 1;
        device.last = false;
        const own = { ...momentScalars([0.9, 0.99], 1e-6, device.steps[i] as number, 'float64', moments.reduce) };
        const sum = arrayBackend.updateMoments(param, grad, state, own);
        if (moments.reduce) arrayBackend.applyUpdate(param, grad, state, sum, update);
      },
    };
    const opt = new StableAdamWOptimizer(backend, params, options);
    const reconcile = () =>
      opt.reconcileCounters({
        ...opt.readCounters(),
        paramSteps: device.steps,
        skippedSteps: device.skipped,
        lastStepSkipped: device.last,
        skippedSinceStep: device.since,
      });
    return { opt, params, device, findNonFinite, reconcile };
  }

  it('moves no counter itself, and reconciles per-param steps to the same state as the host path', async () => {
    const options = { lr: 0.1, nonFinite: 'skip', gradientRelease: true } as const;
    const { opt, params, findNonFinite, reconcile } = releaseOptimizer(options);
    const hostParams = INIT.map((values) => arrayParam(values));
    const host = new StableAdamWOptimizer(arrayBackend, hostParams, options);
    const sequence: [number, number | undefined, boolean][] = [
      [0, undefined, true],
      [1, Number.NaN, true],
      [1, undefined, false],
      [0, Number.POSITIVE_INFINITY, false],
      [0, undefined, false],
      [1, undefined, true],
    ];
    for (const [i, bad, accumulate] of sequence) {
      opt.accumulate = accumulate;
      host.accumulate = accumulate;
      const g = (p: ArrayTensor[]) => grads(p, bad === undefined ? undefined : bad).get(p[1] as ArrayTensor);
      const grad = i === 1 ? g(params) : (grads(params).get(params[0] as ArrayTensor) as ArrayTensor);
      const hostGrad = i === 1 ? g(hostParams) : (grads(hostParams).get(hostParams[0] as ArrayTensor) as ArrayTensor);
      if (i === 0 && bad !== undefined) {
        (grad as ArrayTensor).values[0] = bad;
        (hostGrad as ArrayTensor).values[0] = bad;
      }
      const before = opt.readCounters();
      opt.stepParam(params[i] as ArrayTensor, grad as ArrayTensor);
      expect(opt.readCounters()).toEqual(before);
      host.stepParam(hostParams[i] as ArrayTensor, hostGrad as ArrayTensor);
    }
    expect(findNonFinite).not.toHaveBeenCalled();
    reconcile();
    expect(opt.readCounters()).toEqual(host.readCounters());
    expect([opt.skippedSteps, opt.lastStepSkipped]).toEqual([2, false]);
    expect(params.map((p) => p.values)).toEqual(hostParams.map((p) => p.values));
    const [a, b] = [await opt.stateDict(), await host.stateDict()];
    expect(a).toEqual(b);
    expect(Object.values(a.state).map((s) => s.step)).toEqual([2, 2]);
  });

  it('refuses per-param steps of the wrong shape, for a param without state, and a non-boolean flag, changing nothing', () => {
    const { opt, params } = releaseOptimizer({ lr: 0.1, nonFinite: 'skip', gradientRelease: true });
    opt.stepParam(params[0] as ArrayTensor, arrayParam([0.1, 0.2, 0.3]));
    const before = opt.readCounters();
    expect(before.paramSteps).toEqual([0, 0]);
    const bad = [
      { paramSteps: [1] },
      { paramSteps: [1, -1] },
      { paramSteps: [1, 1] },
      { skippedSinceStep: 1 as unknown as boolean },
    ];
    for (const values of bad) {
      expect(() => opt.reconcileCounters({ ...before, ...values })).toThrow(InvalidParamError);
      expect(opt.readCounters()).toEqual(before);
    }
    opt.reconcileCounters({ ...before, paramSteps: [1, 0], skippedSinceStep: true });
    expect(opt.readCounters()).toMatchObject({ paramSteps: [1, 0], skippedSinceStep: true });
  });

  it("takes every call of an optimizer with a 'skip' group, a 'propagate' group's too, and none without one", () => {
    const params = INIT.map((values) => arrayParam(values));
    const stepParamOnDevice = vi.fn();
    const findNonFinite = vi.fn(arrayBackend.findNonFinite);
    const backend = { ...arrayBackend, findNonFinite, skipsParamOnDevice: () => true, stepParamOnDevice };
    const [a, b] = params as [ArrayTensor, ArrayTensor];
    const mixed = new StableAdamWOptimizer(
      backend,
      [
        { params: [a], nonFinite: 'skip' },
        { params: [b], nonFinite: 'propagate' },
      ],
      { lr: 0.1, gradientRelease: true },
    );
    mixed.stepParam(b, arrayParam([0.1, 0.2]));
    expect(stepParamOnDevice).toHaveBeenCalledTimes(1);
    expect(stepParamOnDevice.mock.calls[0]?.[0]).toMatchObject({ param: b });
    expect(findNonFinite).not.toHaveBeenCalled();
    const plain = new StableAdamWOptimizer(
      backend,
      INIT.map((values) => arrayParam(values)),
      {
        lr: 0.1,
        gradientRelease: true,
      },
    );
    plain.stepParam(plain.paramGroups[0]?.params[0] as ArrayTensor, arrayParam([0.1, 0.2, 0.3]));
    expect(stepParamOnDevice).toHaveBeenCalledTimes(1);
    expect(plain.readCounters().paramSteps).toEqual([1, 0]);
  });
});
