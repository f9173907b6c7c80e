import { compareValues, referenceTolerances, withinTolerance } from '@stable-adamw/conformance';
import {
  bfloat16ToNumber,
  type Dtype,
  InvalidParamError,
  numberToBfloat16,
  numberToFloat16,
  OptimizerDisposedError,
  type StateDict,
} from '@stable-adamw/core';
import { ReferenceStableAdamW, resolveOptions } from '@stable-adamw/core/adapter';
import { afterEach, describe, expect, it } from 'vitest';
import type { CpuParam } from './param.js';
import { createParamBuffer, type ParamBuffer } from './param-buffer.js';
import { StableAdamW } from './stable-adamw.js';

const open: ParamBuffer[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((b) => b.dispose()));
});

const INIT = [0.5, -0.25, 1, 2, -3, 0.125];
const grad = (t: number) => INIT.map((_, i) => Math.sin(3 * t + i) * 10 ** ((i % 3) - 1));
const OPTIONS = { lr: 1e-2, weightDecay: 0 };

/** Bytes of everything a refused call must leave alone. */
function snapshot(params: CpuParam[], opt: StableAdamW): string {
  return JSON.stringify({ data: params.map((p) => Array.from(p.data as ArrayLike<number>)), state: opt.stateDict() });
}

describe('Kahan summation across dtypes on load', () => {
  /** A float32 run saved after 3 steps: its dict has no kahan_comp. */
  function float32Dict(): StateDict {
    const p: CpuParam = { data: Float32Array.from(INIT) };
    const opt = new StableAdamW([p], OPTIONS);
    for (let t = 0; t < 3; t++) opt.step(new Map([[p, Float32Array.from(grad(t))]]));
    const sd = opt.stateDict();
    expect(sd.state[0]?.kahan_comp).toBeNull();
    return sd;
  }

  it('a float32 dict loaded into bfloat16 params gets a zeroed buffer and steps with Kahan, as the reference', () => {
    const saved = float32Dict();
    const p: CpuParam = { data: Uint16Array.from(INIT, numberToBfloat16), dtype: 'bfloat16' };
    const opt = new StableAdamW([p], OPTIONS);
    opt.loadStateDict(saved);
    expect(opt.stateDict().state[0]?.kahan_comp).toEqual(INIT.map(() => 0));
    // The reference, from the same loaded state (moments rounded to bfloat16) with a zero Kahan buffer.
    const reference = new ReferenceStableAdamW([INIT], [{ params: [0], hyperparameters: resolveOptions(OPTIONS) }], 'bfloat16');
    const entry = saved.state[0] as NonNullable<StateDict['state'][0]>;
    const rounded = (values: unknown[]) => Float64Array.from(values as number[], (x) => bfloat16ToNumber(numberToBfloat16(x)));
    reference.state[0] = {
      expAvg: rounded(entry.exp_avg),
      expAvgSq: rounded(entry.exp_avg_sq),
      kahanComp: new Float64Array(INIT.length),
    };
    reference.groupSteps[0] = 3;
    for (let t = 3; t < 8; t++) {
      opt.step(new Map([[p, Float32Array.from(grad(t))]]));
      reference.step([grad(t)]);
    }
    const actual = Float64Array.from(p.data as Uint16Array, bfloat16ToNumber);
    const tolerance = referenceTolerances('bfloat16', OPTIONS.lr).params;
    expect(withinTolerance(compareValues(actual, reference.params[0] as Float64Array, tolerance, 'bfloat16'), tolerance)).toBe(
      true,
    );
    expect(opt.stateDict().state[0]?.kahan_comp).not.toBeNull();
  });

  it('keeps Kahan off for a group with kahanSum: false, and a bfloat16 dict loaded into float32 drops the buffer', () => {
    const saved = float32Dict();
    const off: CpuParam = { data: Uint16Array.from(INIT, numberToBfloat16), dtype: 'bfloat16' };
    const noKahan = new StableAdamW([off], { ...OPTIONS, kahanSum: false });
    noKahan.loadStateDict({
      ...saved,
      param_groups: [{ ...(saved.param_groups[0] as StateDict['param_groups'][0]), kahan_sum: false }],
    });
    expect(noKahan.stateDict().state[0]?.kahan_comp).toBeNull();

    const half: CpuParam = { data: Uint16Array.from(INIT, numberToBfloat16), dtype: 'bfloat16' };
    const halfOpt = new StableAdamW([half], OPTIONS);
    halfOpt.step(new Map([[half, Float32Array.from(grad(0))]]));
    const halfDict = halfOpt.stateDict();
    expect(halfDict.state[0]?.kahan_comp).not.toBeNull();
    const full: CpuParam = { data: Float32Array.from(INIT) };
    const fullOpt = new StableAdamW([full], OPTIONS);
    fullOpt.loadStateDict(halfDict);
    expect(fullOpt.stateDict().state[0]?.kahan_comp).toBeNull();
  });

  it.each<[Dtype & ('float32' | 'bfloat16'), Dtype & ('float32' | 'bfloat16'), boolean]>([
    ['float32', 'bfloat16', true],
    ['bfloat16', 'float32', false],
  ])('ParamBuffers: a %s dict loaded into a %s buffer has a Kahan buffer: %s', async (from, to, kahan) => {
    const source = await createParamBuffer([{ shape: [INIT.length], init: INIT }], { dtype: from });
    const target = await createParamBuffer([{ shape: [INIT.length], init: INIT }], { dtype: to });
    open.push(source, target);
    const [p] = source.params;
    const opt = new StableAdamW(source.params, OPTIONS);
    (p as CpuParam).grad = Float32Array.from(grad(0));
    opt.step();
    const resumed = new StableAdamW(target.params, OPTIONS);
    resumed.loadStateDict(opt.stateDict());
    expect(resumed.stateDict().state[0]?.kahan_comp).toEqual(kahan ? INIT.map(() => 0) : null);
  });
});

describe('non-finite scan', () => {
  const encoders = { float32: (x: number) => x, bfloat16: numberToBfloat16, float16: numberToFloat16 };
  it.each(['float32', 'bfloat16', 'float16'] as const)(
    'finds NaN, +Inf and −Inf at every position of a %s buffer gradient (SIMD lanes and tail), and nothing else',
    async (dtype) => {
      const encode = encoders[dtype];
      const n = 13;
      for (const kernel of ['wasm', 'js'] as const) {
        const buffer = await createParamBuffer([{ shape: [n], init: INIT.concat(INIT, [1]) }], { dtype, kernel });
        open.push(buffer);
        const opt = new StableAdamW(buffer.params, { ...OPTIONS, nonFinite: 'skip' });
        const grad = buffer.gradOf(buffer.params[0] as never);
        // 65504 is float16's largest finite value and 3e38 is finite in float32 and bfloat16.
        grad.fill(encode(dtype === 'float16' ? 65504 : 3e38));
        opt.step();
        expect(opt.lastStepSkipped, `${kernel}: large finite values`).toBe(false);
        for (let i = 0; i < n; i++) {
          for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
            grad.fill(encode(0.5));
            grad[i] = encode(bad);
            (buffer.params[0] as CpuParam).grad = grad;
            opt.step();
            expect(opt.lastStepSkipped, `${kernel} ${bad} at ${i}`).toBe(true);
          }
        }
        expect(opt.skippedSteps).toBe(3 * n);
        expect(opt.paramGroups[0]?.step).toBe(1);
      }
    },
  );
});

describe('params re-validated at every step', () => {
  it.each<[string, (p: CpuParam) => void, RegExp]>([
    ['a longer array', (p) => Object.assign(p, { data: new Float32Array(INIT.length + 1) }), /now holds 7 float32 elements/],
    ['a shorter array', (p) => Object.assign(p, { data: new Float32Array(2) }), /now holds 2 float32 elements/],
    ['a Float64Array', (p) => Object.assign(p, { data: new Float64Array(INIT.length) }), /now holds 6 float64 elements/],
    ['null', (p) => Object.assign(p, { data: null }), /has data that is null/],
  ])('refuses data replaced by %s before updating any param', (_, swap, message) => {
    const a: CpuParam = { data: Float32Array.from(INIT), name: 'a' };
    const b: CpuParam = { data: Float32Array.from(INIT), name: 'b' };
    const opt = new StableAdamW([a, b], OPTIONS);
    a.grad = Float32Array.from(grad(0));
    b.grad = Float32Array.from(grad(0));
    opt.step();
    const before = snapshot([a, b], opt);
    const original = b.data;
    swap(b);
    b.grad = Float32Array.from(grad(1));
    expect(() => opt.step()).toThrow(InvalidParamError);
    expect(() => opt.step()).toThrow(message);
    b.data = original;
    expect(snapshot([a, b], opt)).toBe(before);
    expect(opt.paramGroups[0]?.step).toBe(1);
  });

  it('refuses a bfloat16 param swapped to a Float64Array', () => {
    const p: CpuParam = { data: Uint16Array.from(INIT, numberToBfloat16), dtype: 'bfloat16', name: 'emb' };
    const opt = new StableAdamW([p], OPTIONS);
    const original = p.data;
    p.data = Float64Array.from(INIT);
    expect(() => opt.step(new Map([[p, Float32Array.from(grad(0))]]))).toThrow(/has Float64Array data but dtype bfloat16/);
    expect(Array.from(original)).toEqual(Array.from(INIT, numberToBfloat16));
  });

  it('refuses a ParamBuffer param whose data view was replaced, even by one of the same length', async () => {
    const buffer = await createParamBuffer([{ shape: [INIT.length], init: INIT, name: 'w' }]);
    open.push(buffer);
    const [p] = buffer.params as [CpuParam];
    const opt = new StableAdamW(buffer.params, OPTIONS);
    const view = p.data;
    p.data = Float32Array.from(INIT);
    expect(() => opt.step()).toThrow(/lives in a ParamBuffer, but its data was replaced/);
    p.data = view;
    opt.step();
    expect(opt.paramGroups[0]?.step).toBe(1);
  });

  it('says "an Array" for a plain-array gradient', () => {
    const p: CpuParam = { data: Float32Array.from(INIT) };
    const opt = new StableAdamW([p], OPTIONS);
    expect(() => opt.step(new Map([[p, [1, 2] as unknown as Float32Array]]))).toThrow(/is an Array but the param is float32/);
  });
});

describe('lifecycle', () => {
  it('refuses step and stepParam after dispose()', () => {
    const p: CpuParam = { data: Float32Array.from(INIT), grad: Float32Array.from(grad(0)) };
    const opt = new StableAdamW([p], { ...OPTIONS, gradientRelease: true });
    opt.dispose();
    expect(() => opt.step()).toThrow(OptimizerDisposedError);
    expect(() => opt.stepParam(p, Float32Array.from(grad(0)))).toThrow(OptimizerDisposedError);
    expect(Array.from(p.data)).toEqual(Array.from(Float32Array.from(INIT)));
  });

  it('refuses stateDict, loadStateDict and dispose while a threaded step runs, with the error a second step gets', async () => {
    const buffer = await createParamBuffer([{ shape: [40000], name: 'big' }], { threads: 2 });
    open.push(buffer);
    const opt = new StableAdamW(buffer.params, OPTIONS);
    buffer.grads.fill(0.5);
    const saved = opt.stateDict();
    const pending = opt.step();
    expect(pending).toBeInstanceOf(Promise);
    for (const [call, method] of [
      [() => opt.step(), 'stepping again'],
      [() => opt.stateDict(), 'calling stateDict()'],
      [() => opt.loadStateDict(saved), 'calling loadStateDict()'],
      [() => opt.dispose(), 'calling dispose()'],
    ] as const) {
      expect(call).toThrow(InvalidParamError);
      expect(call).toThrow(`is still being stepped by worker threads. Await optimizer.step() before ${method}`);
    }
    await pending;
    expect(opt.paramGroups[0]?.step).toBe(1);
    expect(opt.stateDict().state[0]?.exp_avg[0]).toBe(0.5);
    opt.dispose();
  });
});

describe('createParamBuffer options', () => {
  it.each(['thread', 'dtyp'])('rejects the unknown key %s', async (key) => {
    await expect(createParamBuffer([{ shape: [2] }], { [key]: 2 } as never)).rejects.toThrow(
      new RegExp(`\`options.${key}\` is not a ParamBuffer option. Valid options are: dtype, threads, kernel`),
    );
  });
});
