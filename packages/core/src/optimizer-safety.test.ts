import { describe, expect, it } from 'vitest';
import { type ArrayTensor, arrayBackend, arrayOptimizer, arrayParam } from '../examples/array-adapter.js';
import {
  InvalidHyperparameterError,
  InvalidParamError,
  NonFiniteGradientError,
  OptimizerDisposedError,
  StableAdamWError,
  UnsupportedBackendError,
} from './errors.js';
import { DynamicLossScaler } from './loss-scaler.js';
import { StableAdamWOptimizer } from './optimizer.js';
import { type Hyperparameters, type NonFinitePolicy, resolveOptions, type StableAdamWOptions } from './options.js';
import { ReferenceStableAdamW } from './reference.js';
import type { StateDict } from './state-dict.js';

const INIT = [
  [1, -2, 3],
  [0.5, 0.25],
];
const CLEAN = [
  [0.1, -0.2, 0.3],
  [1, -2],
];

function setup(options: StableAdamWOptions, groups?: Partial<StableAdamWOptions>[]) {
  const params = INIT.map((values) => arrayParam(values));
  const opt = arrayOptimizer(
    groups ? params.map((p, i) => ({ params: [p], ...groups[i] })) : params,
    options as StableAdamWOptions,
  );
  const { lossScaler: _, ...hyperparameters } = options;
  const h = resolveOptions(hyperparameters);
  const reference = new ReferenceStableAdamW(
    INIT,
    groups
      ? INIT.map((_, i) => ({ params: [i], hyperparameters: { ...h, ...groups[i] } as Hyperparameters }))
      : [{ params: [0, 1], hyperparameters: h }],
    'float64',
  );
  const setGrads = (grads: (number[] | null)[]) => {
    grads.forEach((g, i) => {
      (params[i] as ArrayTensor).grad = g ? arrayParam(g) : null;
    });
  };
  return { params, opt, reference, setGrads };
}

/** Everything a failed or skipped call must leave as it was. */
function snapshot(params: ArrayTensor[], opt: StableAdamWOptimizer<ArrayTensor, ArrayTensor, unknown, unknown>) {
  return JSON.stringify({
    params: params.map((p) => Array.from(p.values)),
    state: opt.stateDict(),
    steps: opt.paramGroups.map((g) => g.step),
  });
}

function expectMatchesReference(params: ArrayTensor[], reference: ReferenceStableAdamW): void {
  params.forEach((p, i) => {
    const expected = reference.params[i] as Float64Array;
    p.values.forEach((x, j) => {
      expect(Math.abs(x - (expected[j] as number))).toBeLessThanOrEqual(1e-14 * Math.max(1, Math.abs(x)));
    });
  });
}

describe('nonFinite policy', () => {
  it("'propagate' (the default, optimi's behaviour) lets a NaN into the param", () => {
    const { params, opt, setGrads } = setup({ lr: 0.1 });
    setGrads([[0.1, Number.NaN, 0.3], CLEAN[1] as number[]]);
    opt.step();
    expect(Number.isNaN(params[0]?.values[1])).toBe(true);
    expect(opt.skippedSteps).toBe(0);
  });

  it.each([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY])(
    "'skip' skips the whole step on a %s: params, moments and counters unchanged",
    (bad) => {
      const { params, opt, reference, setGrads } = setup({ lr: 0.1, nonFinite: 'skip' });
      setGrads(CLEAN);
      opt.step();
      reference.step(CLEAN);
      const before = snapshot(params, opt);
      setGrads([CLEAN[0] as number[], [1, bad]]);
      opt.step();
      expect(opt.lastStepSkipped).toBe(true);
      expect(opt.skippedSteps).toBe(1);
      expect(snapshot(params, opt)).toBe(before.replace('"skipped_steps":0', '"skipped_steps":1'));
      // The next clean step is step 2 of the reference, which never saw the bad one.
      setGrads(CLEAN);
      opt.step();
      reference.step(CLEAN);
      expect(opt.lastStepSkipped).toBe(false);
      expect(opt.paramGroups[0]?.step).toBe(2);
      expectMatchesReference(params, reference);
    },
  );

  it("'throw' names every non-finite param and changes nothing", () => {
    const { params, opt, setGrads } = setup({ lr: 0.1, nonFinite: 'throw' });
    const before = snapshot(params, opt);
    setGrads([
      [Number.NaN, 0, 0],
      [1, Number.POSITIVE_INFINITY],
    ]);
    let error: unknown;
    try {
      opt.step();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(NonFiniteGradientError);
    expect((error as NonFiniteGradientError).code).toBe('non_finite_gradient');
    expect((error as NonFiniteGradientError).parameters).toEqual(['paramGroups[0].params[0]', 'paramGroups[0].params[1]']);
    expect(String((error as Error).message)).toMatch(/holds NaN or ±Inf, and nonFinite is 'throw'.*nonFinite: 'skip'/);
    expect(snapshot(params, opt)).toBe(before);
    expect(opt.skippedSteps).toBe(0);
  });

  it('is per group: a propagate group is not scanned, a NaN in a skip group skips every group', () => {
    const { params, opt, setGrads } = setup({ lr: 0.1 }, [{}, { nonFinite: 'skip' }]);
    setGrads([[Number.NaN, 0, 0], CLEAN[1] as number[]]);
    opt.step();
    expect(Number.isNaN(params[0]?.values[0])).toBe(true);
    const before = snapshot(params, opt);
    setGrads([CLEAN[0] as number[], [Number.NaN, 0]]);
    opt.step();
    expect(opt.lastStepSkipped).toBe(true);
    expect(snapshot(params, opt)).toBe(before.replace('"skipped_steps":0', '"skipped_steps":1'));
  });

  it("rejects an unknown policy, and 'skip' on a backend that cannot detect non-finite values", () => {
    expect(() => setup({ lr: 0.1, nonFinite: 'ignore' as NonFinitePolicy })).toThrow(InvalidHyperparameterError);
    const { findNonFinite: _, ...blind } = arrayBackend;
    expect(() => new StableAdamWOptimizer(blind, [arrayParam([1])], { lr: 0.1, nonFinite: 'skip' })).toThrow(
      UnsupportedBackendError,
    );
    const opt = new StableAdamWOptimizer(blind, [arrayParam([1])], { lr: 0.1 });
    (opt.paramGroups[0] as { nonFinite: NonFinitePolicy }).nonFinite = 'throw';
    expect(() => opt.step(new Map())).toThrow(/cannot detect non-finite gradients/);
  });

  it('under gradient release skips the one call: moments, param and its counter unchanged, gradient dropped', () => {
    const { params, opt, reference } = setup({ lr: 0.1, nonFinite: 'skip', gradientRelease: true });
    const [a, b] = params as [ArrayTensor, ArrayTensor];
    opt.stepParam(a, arrayParam(CLEAN[0] as number[]));
    reference.stepParam(0, CLEAN[0] as number[]);
    const before = snapshot(params, opt);
    b.grad = arrayParam([Number.NaN, 1]);
    opt.stepParam(b, b.grad);
    expect(b.grad).toBeNull();
    expect(opt.lastStepSkipped).toBe(true);
    expect(snapshot(params, opt)).toBe(before.replace('"skipped_steps":0', '"skipped_steps":1'));
    opt.stepParam(b, arrayParam(CLEAN[1] as number[]));
    reference.stepParam(1, CLEAN[1] as number[]);
    expectMatchesReference(params, reference);
    expect((opt.stateDict() as StateDict).state[1]?.step).toBe(1);
  });

  it('under accumulation drops only the non-finite micro-batch', () => {
    const { params, opt, reference } = setup({ lr: 0.1, nonFinite: 'skip', gradientRelease: true });
    const [a] = params as [ArrayTensor];
    opt.accumulate = true;
    opt.stepParam(a, arrayParam([0.1, 0.2, 0.3]));
    reference.stepParam(0, [0.1, 0.2, 0.3], true);
    opt.stepParam(a, arrayParam([Number.POSITIVE_INFINITY, 0, 0]));
    opt.accumulate = false;
    opt.stepParam(a, arrayParam([0.3, -0.1, 0.2]));
    reference.stepParam(0, [0.3, -0.1, 0.2]);
    expectMatchesReference(params, reference);
    expect((opt.stateDict() as StateDict).state[0]?.step).toBe(2);
    expect(opt.skippedSteps).toBe(1);
  });

  it('saves skipped_steps, and a dict without it or non_finite (older) loads keeping the policy', () => {
    const { params, opt, setGrads } = setup({ lr: 0.1, nonFinite: 'skip' });
    setGrads([[Number.NaN, 0, 0], null]);
    opt.step();
    const saved = JSON.parse(JSON.stringify(opt.stateDict())) as StateDict;
    expect(saved.skipped_steps).toBe(1);
    expect(saved.param_groups[0]?.non_finite).toBe('skip');
    const resumed = setup({ lr: 0.1, nonFinite: 'skip' }).opt;
    resumed.loadStateDict(saved);
    expect(resumed.skippedSteps).toBe(1);
    const { skipped_steps: _, ...older } = saved;
    const { non_finite: __, ...olderGroup } = saved.param_groups[0] as NonNullable<StateDict['param_groups'][0]>;
    resumed.loadStateDict({ ...older, param_groups: [olderGroup] });
    expect(resumed.skippedSteps).toBe(0);
    expect(resumed.paramGroups[0]?.nonFinite).toBe('skip');
    expect(params).toHaveLength(2);
  });
});

describe('lossScaler', () => {
  it('folds the unscale into the step: scaled gradients give the reference step on unscaled ones', () => {
    const scaler = new DynamicLossScaler({ initScale: 1024, growthInterval: 2 });
    const { params, opt, reference, setGrads } = setup({ lr: 0.1, lossScaler: scaler });
    expect(opt.paramGroups[0]?.nonFinite).toBe('skip');
    for (let t = 0; t < 3; t++) {
      const scale = scaler.scale;
      setGrads(CLEAN.map((g) => g.map((x) => x * scale)));
      opt.step();
      reference.step(CLEAN);
    }
    expectMatchesReference(params, reference);
    // Two clean steps grew it once (growthInterval 2); the third started a new count.
    expect(scaler.scale).toBe(2048);
  });

  it('backs off on an overflow and skips the step', () => {
    const scaler = new DynamicLossScaler();
    const { params, opt, setGrads } = setup({ lr: 0.1, lossScaler: scaler });
    const before = snapshot(params, opt);
    setGrads([[Number.POSITIVE_INFINITY, 0, 0], CLEAN[1] as number[]]);
    opt.step();
    expect(scaler.scale).toBe(32768);
    expect(opt.lastStepSkipped).toBe(true);
    expect(snapshot(params, opt).replace(/"loss_scaler":\{[^}]*\}/, '')).toBe(
      before.replace('"skipped_steps":0', '"skipped_steps":1').replace(/"loss_scaler":\{[^}]*\}/, ''),
    );
  });

  it('under gradient release is updated by the step() that ends the backward pass', () => {
    const scaler = new DynamicLossScaler();
    const { params, opt } = setup({ lr: 0.1, lossScaler: scaler, gradientRelease: true });
    opt.stepParam(params[0] as ArrayTensor, arrayParam([Number.NaN, 0, 0]));
    opt.stepParam(params[1] as ArrayTensor, arrayParam([1, 1]));
    expect(scaler.scale).toBe(65536);
    opt.step();
    expect(scaler.scale).toBe(32768);
    expect(opt.lastStepSkipped).toBe(true);
    opt.step();
    expect(opt.lastStepSkipped).toBe(false);
  });

  it('is saved in the state dict and restored', () => {
    const scaler = new DynamicLossScaler();
    const { opt, setGrads } = setup({ lr: 0.1, lossScaler: scaler });
    setGrads([[Number.NaN, 0, 0], null]);
    opt.step();
    const saved = JSON.parse(JSON.stringify(opt.stateDict())) as StateDict;
    expect(saved.loss_scaler?.scale).toBe(32768);
    const other = new DynamicLossScaler();
    setup({ lr: 0.1, lossScaler: other }).opt.loadStateDict(saved);
    expect(other.scale).toBe(32768);
  });

  it("needs nonFinite 'skip' everywhere and a backend that folds the scale", () => {
    const lossScaler = new DynamicLossScaler();
    expect(() => setup({ lr: 0.1, lossScaler, nonFinite: 'throw' })).toThrow(/must be 'skip' when a lossScaler is used/);
    expect(() => setup({ lr: 0.1, lossScaler }, [{}, { nonFinite: 'propagate' }])).toThrow(
      /paramGroups\[1\].nonFinite.*must be 'skip'/,
    );
    expect(() => setup({ lr: 0.1, lossScaler: { scale: 2 } as unknown as DynamicLossScaler })).toThrow(
      /must be a DynamicLossScaler/,
    );
    const { supportsGradScale: _, ...unscaled } = arrayBackend;
    expect(() => new StableAdamWOptimizer(unscaled, [arrayParam([1])], { lr: 0.1, lossScaler })).toThrow(UnsupportedBackendError);
  });
});

describe('params are re-validated at every step', () => {
  it.each<[string, (p: ArrayTensor) => void]>([
    ['a longer array', (p) => Object.assign(p, { values: new Float64Array(4) })],
    ['a shorter array', (p) => Object.assign(p, { values: new Float64Array(1) })],
    ['another dtype', (p) => Object.assign(p, { dtype: 'float32' })],
    ['no array at all', (p) => Object.assign(p, { values: null })],
  ])('refuses a param whose data became %s, before anything is written', (_, swap) => {
    const { params, opt, setGrads } = setup({ lr: 0.1 });
    setGrads(CLEAN);
    opt.step();
    const before = snapshot(params, opt);
    const [a, b] = params as [ArrayTensor, ArrayTensor];
    const original = b.values;
    const originalDtype = b.dtype;
    swap(b);
    setGrads([CLEAN[0] as number[], null]);
    expect(() => opt.step()).toThrow(InvalidParamError);
    b.values = original;
    b.dtype = originalDtype;
    expect(snapshot(params, opt)).toBe(before);
    expect(Array.from(a.values)).toEqual(JSON.parse(before).params[0]);
  });
});

describe('after dispose()', () => {
  it('refuses step, stepParam, stateDict and loadStateDict with a typed error', () => {
    const { opt, params, setGrads } = setup({ lr: 0.1, gradientRelease: true });
    const saved = opt.stateDict() as StateDict;
    opt.dispose();
    opt.dispose();
    setGrads(CLEAN);
    for (const call of [
      () => opt.step(),
      () => opt.stepParam(params[0] as ArrayTensor, arrayParam([0, 0, 0])),
      () => opt.stateDict(),
      () => opt.loadStateDict(saved),
    ]) {
      expect(call).toThrow(OptimizerDisposedError);
      try {
        call();
      } catch (error) {
        expect(StableAdamWError.isInstance(error) && error.code).toBe('optimizer_disposed');
      }
    }
    expect(opt.paramGroups[0]?.step).toBe(0);
  });
});

describe('state dict messages', () => {
  it('reports a NaN step as NaN, and a bad beta by its state-dict key', () => {
    const { opt } = setup({ lr: 0.1 });
    const saved = JSON.parse(JSON.stringify(opt.stateDict())) as StateDict;
    const group = saved.param_groups[0] as NonNullable<StateDict['param_groups'][0]>;
    expect(() => opt.loadStateDict({ ...saved, param_groups: [{ ...group, step: Number.NaN }] })).toThrow(
      /`param_groups\[0\].step` is NaN, not a non-negative integer/,
    );
    expect(() => opt.loadStateDict({ ...saved, param_groups: [{ ...group, beta2: -0.5 }] })).toThrow(
      /`param_groups\[0\].beta2` is -0.5, but it must be in \[0, 1\)/,
    );
  });
});

describe('snapshotCounters()', () => {
  it('puts back group steps, per-param steps, skip counts and the loss scale after later steps', () => {
    const scaler = new DynamicLossScaler({ initScale: 64, growthInterval: 1 });
    const { opt, params } = setup({ lr: 0.1, nonFinite: 'skip', lossScaler: scaler, gradientRelease: true });
    const [a, b] = params as [ArrayTensor, ArrayTensor];
    opt.stepParam(a, arrayParam(CLEAN[0] as number[]));
    opt.step();
    const counters = () => ({
      state: Object.values((opt.stateDict() as StateDict).state).map((s) => (s as { step?: number }).step),
      groups: opt.paramGroups.map((g) => g.step),
      skipped: opt.skippedSteps,
      last: opt.lastStepSkipped,
      scale: scaler.scale,
    });
    const before = counters();
    expect(before).toEqual({ state: [1], groups: [1], skipped: 0, last: false, scale: 128 });
    const snapshot = opt.snapshotCounters();
    opt.stepParam(a, arrayParam(CLEAN[0] as number[]));
    opt.stepParam(b, arrayParam(CLEAN[1] as number[]));
    opt.stepParam(b, arrayParam([Number.NaN, 0]));
    opt.step();
    expect(counters()).not.toEqual(before);
    snapshot.restore();
    expect(counters()).toEqual({ ...before, state: [1, 0] });
  });
});
