import { GradientMismatchError, InvalidParamError, numberToBfloat16 } from '@stable-adamw/core';
import { type ReferenceGroup, ReferenceStableAdamW, resolveOptions } from '@stable-adamw/core/adapter';
import { describe, expect, it } from 'vitest';
import type { CpuParam } from './param.js';
import { StableAdamW } from './stable-adamw.js';

function f64(values: number[], grad: number[] | null = null): CpuParam {
  return { data: Float64Array.from(values), grad: grad ? Float64Array.from(grad) : null };
}

function expectClose(actual: ArrayLike<number>, expected: number[], rel = 1e-14): void {
  expect(actual.length).toBe(expected.length);
  expected.forEach((e, i) => {
    const a = actual[i] as number;
    if (Number.isNaN(e)) expect(a).toBeNaN();
    else expect(Math.abs(a - e)).toBeLessThanOrEqual(rel * Math.max(1, Math.abs(e)));
  });
}

// Expected values below are worked from the update rule by hand (float64):
// m = g, v = g² at step 1 (β̂ = 0); RMS = √mean(g²/max(v, ε²)); η = lr/max(1, RMS);
// θ ← θ(1 − η·λ) − η·m/(√v + ε).
describe('hand-checked steps', () => {
  it('step 1 is a sign-like update of size lr', () => {
    const p = f64([1, 1, 1], [0.5, -2, 1e-3]);
    new StableAdamW([p], { lr: 0.1, weightDecay: 0 }).step();
    expectClose(p.data, [1 - (0.1 * 0.5) / (0.5 + 1e-6), 1 + (0.1 * 2) / (2 + 1e-6), 1 - (0.1 * 1e-3) / (1e-3 + 1e-6)]);
  });

  it('clips η by the RMS when a gradient spikes', () => {
    const p = f64([0, 0], [1, 1]);
    const opt = new StableAdamW([p], { lr: 0.1, weightDecay: 0 });
    opt.step();
    const afterStep1 = Array.from(p.data);
    p.grad = Float64Array.from([10, 1]);
    opt.step();
    // Step 2: β̂1 = 0.09/0.19, β̂2 = (0.99² − 0.99)/(0.99² − 1).
    const b1 = 0.09 / 0.19;
    const b2 = (0.99 ** 2 - 0.99) / (0.99 ** 2 - 1);
    const m = [b1 * 1 + (1 - b1) * 10, 1];
    const v = [b2 * 1 + (1 - b2) * 100, 1];
    const rms = Math.sqrt((100 / (v[0] as number) + 1 / (v[1] as number)) / 2);
    expect(rms).toBeGreaterThan(1);
    const eta = 0.1 / rms;
    expectClose(
      p.data,
      afterStep1.map((theta, i) => theta - (eta * (m[i] as number)) / (Math.sqrt(v[i] as number) + 1e-6)),
    );
  });

  it('floors v at ε² in the RMS, so a zero gradient leaves only weight decay', () => {
    const p = f64([2, -4], [0, 0]);
    const opt = new StableAdamW([p], { lr: 0.1, weightDecay: 0.5 });
    opt.step();
    expectClose(p.data, [2 * (1 - 0.1 * 0.5), -4 * (1 - 0.1 * 0.5)]);
    expect(opt.stateDict().state[0]?.exp_avg_sq).toEqual([0, 0]);
  });

  it('skips params without gradients (no state, no decay) but counts the group step', () => {
    const a = f64([1], [1]);
    const b = f64([3]);
    const opt = new StableAdamW([a, b], { lr: 0.1 });
    opt.step();
    expect(Array.from(b.data)).toEqual([3]);
    expect(Object.keys(opt.stateDict().state)).toEqual(['0']);
    opt.step();
    expect(opt.paramGroups[0]?.step).toBe(2);
    // b's first step happens at group step 3: β̂(3) ≠ 0, so m = (1 − β̂1)·g, not g.
    b.grad = Float64Array.from([2]);
    opt.step();
    const b1 = (0.9 ** 3 - 0.9) / (0.9 ** 3 - 1);
    expectClose(Float64Array.from(opt.stateDict().state[1]?.exp_avg as number[]), [(1 - b1) * 2]);
  });

  it('fully decoupled decay scales with lr/maxLr as the schedule changes lr', () => {
    const p = f64([1], [0]);
    const opt = new StableAdamW([p], { lr: 1e-2, decoupleLr: true, weightDecay: 1e-3 });
    expect(opt.paramGroups[0]?.maxLr).toBe(1e-2);
    opt.step();
    (opt.paramGroups[0] as { lr: number }).lr = 5e-3;
    opt.step();
    // θ·(1 − (lr/maxLr)·λ): full λ at peak lr, half of it at half the lr.
    expectClose(p.data, [(1 - 1e-3) * (1 - 0.5e-3)]);
  });

  it('a NaN gradient element poisons only its own element and disables clipping', () => {
    const p = f64([1, 1], [Number.NaN, 100]);
    new StableAdamW([p], { lr: 0.1, weightDecay: 0 }).step();
    expectClose(p.data, [Number.NaN, 1 - (0.1 * 100) / (100 + 1e-6)]);
  });

  it('does not overwrite gradients', () => {
    const grad = Float32Array.from([0.25, -0.5]);
    const p: CpuParam = { data: Float32Array.from([1, 2]), grad };
    new StableAdamW([p], { lr: 0.1 }).step();
    expect(Array.from(grad)).toEqual([0.25, -0.5]);
  });

  it('zeroGrad drops every gradient', () => {
    const p = f64([1], [1]);
    const opt = new StableAdamW([p], { lr: 0.1 });
    opt.zeroGrad();
    expect(p.grad).toBeNull();
  });
});

describe('validation', () => {
  it.each<[string, CpuParam, string]>([
    ['a Uint16Array without dtype', { data: new Uint16Array(2) }, 'has Uint16Array data with dtype undefined'],
    ['dtype contradicting the array', { data: new Float32Array(2), dtype: 'float64' }, 'dtype float64'],
    ['a shape of the wrong size', { data: new Float32Array(6), shape: [4, 2] }, 'has shape [4, 2] but 6 elements'],
    ['no elements', { data: new Float32Array(0) }, 'has no elements'],
    ['a plain array', { data: [1, 2] as unknown as Float32Array }, 'has data that is an Array'],
    ['null data', { data: null as unknown as Float32Array }, 'has data that is null'],
    [
      'a bare Float32Array',
      new Float32Array(2) as unknown as CpuParam,
      'is a Float32Array, not a param: a param is `{ data, grad }`',
    ],
  ])('rejects a param with %s', (_, param, message) => {
    expect(() => new StableAdamW([param], { lr: 1 })).toThrow(InvalidParamError);
    expect(() => new StableAdamW([param], { lr: 1 })).toThrow(message);
  });

  it.each<[string, CpuParam, string]>([
    ['the wrong length', { data: new Float32Array(3), grad: new Float32Array(2) }, 'has 2 elements but the param has 3'],
    [
      'the wrong array type',
      { data: new Float32Array(2), grad: new Float64Array(2) },
      'is a Float64Array but the param is float32',
    ],
    [
      'bits of a 16-bit param given as Float64Array',
      { data: new Uint16Array(2), dtype: 'bfloat16', grad: new Float64Array(2) },
      'is a Float64Array but the param is bfloat16',
    ],
  ])('rejects a gradient with %s before touching anything', (_, bad, message) => {
    const good = f64([1, 2], [0.1, 0.2]);
    const opt = new StableAdamW([good, { ...bad, name: 'layer.weight' }], { lr: 0.1 });
    let error: unknown;
    try {
      opt.step();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(GradientMismatchError);
    expect((error as GradientMismatchError).parameter).toBe('paramGroups[0].params[1] (layer.weight)');
    expect((error as Error).message).toContain(message);
    expect(Array.from(good.data)).toEqual([1, 2]);
    expect(opt.paramGroups[0]?.step).toBe(0);
    expect(opt.stateDict().state).toEqual({});
  });

  it('accepts a Float32Array gradient for a bfloat16 param', () => {
    const p: CpuParam = { data: Uint16Array.of(numberToBfloat16(1)), dtype: 'bfloat16', grad: Float32Array.of(1) };
    new StableAdamW([p], { lr: 2 ** -4, weightDecay: 0 }).step();
    // 1 − 2^-4·1/(1 + 1e-6) rounds to 1 − 2^-4 in bfloat16.
    expect(p.data[0]).toBe(numberToBfloat16(1 - 2 ** -4));
  });
});

describe('gradient release and param groups', () => {
  const init = [
    [0.5, -0.25, 1],
    [2, -1],
  ];
  const gradAt = (t: number) => [
    [0.1 * t, -0.2, 0.3 / t],
    [-0.05 * t, 0.4],
  ];

  function release(lr: number, values: ArrayLike<number>[] = init) {
    const params = values.map((v) => f64(Array.from(v)));
    const [first, second] = params as [CpuParam, CpuParam];
    const opt = new StableAdamW([{ params: [first] }, { params: [second], weightDecay: 0.1 }], { lr, gradientRelease: true });
    const stepAll = (t: number) => {
      for (const i of [1, 0]) opt.stepParam(params[i] as CpuParam, Float64Array.from(gradAt(t)[i] as number[]));
    };
    return { params, opt, stepAll };
  }

  it("reads each group's current hyperparameters at every stepParam, also after loadStateDict", () => {
    const reference = new ReferenceStableAdamW(
      init,
      [
        { params: [0], hyperparameters: resolveOptions({ lr: 1e-2, gradientRelease: true }) },
        { params: [1], hyperparameters: resolveOptions({ lr: 1e-2, weightDecay: 0.1, gradientRelease: true }) },
      ],
      'float64',
    );
    const referenceStep = (t: number) => {
      for (const i of [1, 0]) reference.stepParam(i, gradAt(t)[i] as number[]);
    };
    const a = release(1e-2);
    for (let t = 1; t <= 3; t++) {
      a.stepAll(t);
      referenceStep(t);
    }
    // A scheduler moves group 0's lr and group 1's decay; the state dict carries them.
    (a.opt.paramGroups[0] as { lr: number }).lr = 3e-2;
    (a.opt.paramGroups[1] as { weightDecay: number }).weightDecay = 0.5;
    (reference.groups[0] as ReferenceGroup).hyperparameters.lr = 3e-2;
    (reference.groups[1] as ReferenceGroup).hyperparameters.weightDecay = 0.5;
    const saved = JSON.parse(JSON.stringify(a.opt.stateDict()));

    // Constructed with lr 1: only the loaded groups' hyperparameters may count.
    const b = release(
      1,
      a.params.map((p) => p.data as Float64Array),
    );
    b.opt.loadStateDict(saved);
    for (let t = 4; t <= 6; t++) {
      if (t === 6) {
        (b.opt.paramGroups[1] as { lr: number }).lr = 5e-3;
        (reference.groups[1] as ReferenceGroup).hyperparameters.lr = 5e-3;
      }
      b.stepAll(t);
      referenceStep(t);
      for (const [i, p] of b.params.entries()) expectClose(p.data, Array.from(reference.params[i] as Float64Array), 1e-13);
    }
    expect(b.opt.stateDict().state[0]?.step).toBe(6);
  });
});

describe('gradients passed in (step(grads))', () => {
  const init = [0.5, -0.25, 1, 2e-3, -3];
  const gradAt = (t: number) => init.map((x, i) => (i % 2 ? -1 : 1) * 0.1 * t * (x + i));
  const storages: [string, (values: number[]) => CpuParam][] = [
    ['float64', (v) => ({ data: Float64Array.from(v) })],
    ['float32', (v) => ({ data: Float32Array.from(v) })],
    ['bfloat16 bits', (v) => ({ data: Uint16Array.from(v, numberToBfloat16), dtype: 'bfloat16' })],
  ];

  it.each(storages)('%s: stepping with a Map equals stepping with .grad, bit for bit', (_, make) => {
    const viaGrad = [make(init), make(init.map((x) => -x))];
    const viaMap = [make(init), make(init.map((x) => -x))];
    // float64 params take Float64Array gradients; float32 and bfloat16 ones Float32Array.
    const gradOf = (param: CpuParam, t: number) =>
      param.data instanceof Float64Array ? Float64Array.from(gradAt(t)) : Float32Array.from(gradAt(t));
    const options = { lr: 1e-2, weightDecay: 0.1 };
    const a = new StableAdamW(viaGrad, options);
    const b = new StableAdamW(viaMap, options);
    for (let t = 1; t <= 4; t++) {
      for (const p of viaGrad) p.grad = gradOf(p, t);
      a.step();
      b.step(new Map(viaMap.map((p) => [p, gradOf(p, t)])));
    }
    viaGrad.forEach((p, i) => {
      expect(Array.from(viaMap[i]?.data ?? [])).toEqual(Array.from(p.data));
    });
    expect(b.stateDict()).toEqual(a.stateDict());
  });

  it('skips params missing from the map, whatever their .grad', () => {
    const inMap = f64([1, 2]);
    const notInMap = f64([3], [10]);
    const opt = new StableAdamW([inMap, notInMap], { lr: 0.1 });
    opt.step(new Map([[inMap, Float64Array.from([0.5, -0.5])]]));
    expect(Array.from(notInMap.data)).toEqual([3]);
    expect(Object.keys(opt.stateDict().state)).toEqual(['0']);
    expect(inMap.data[0]).not.toBe(1);
  });

  it('refuses a map with a param this optimizer does not hold, changing nothing', () => {
    const p = f64([1]);
    const opt = new StableAdamW([p], { lr: 0.1 });
    expect(() => opt.step(new Map([[f64([1]), Float64Array.of(1)]]))).toThrow(InvalidParamError);
    expect(opt.paramGroups[0]?.step).toBe(0);
    expect(Array.from(p.data)).toEqual([1]);
  });
});
