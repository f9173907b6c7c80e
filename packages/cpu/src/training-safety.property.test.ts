import { compareValues, referenceTolerances, withinTolerance } from '@stable-adamw/conformance';
import {
  bfloat16ToNumber,
  type Dtype,
  DynamicLossScaler,
  float16ToNumber,
  type NonFinitePolicy,
  numberToBfloat16,
  numberToFloat16,
  StableAdamWError,
  type StableAdamWOptions,
  type StateDict,
} from '@stable-adamw/core';
import { ReferenceStableAdamW, resolveOptions } from '@stable-adamw/core/adapter';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { CpuArray, CpuParam } from './param.js';
import { StableAdamW } from './stable-adamw.js';

// Random sequences of valid and invalid calls on the cpu adapter. After every call either it
// succeeded and the params match the float64 reference, or it threw a typed StableAdamWError and
// params, state and counters are bit-identical to before.

const LENGTHS = [3, 5];
const LR = 1e-2;
const encode: Partial<Record<Dtype, (x: number) => number>> = { bfloat16: numberToBfloat16, float16: numberToFloat16 };
const decode: Partial<Record<Dtype, (x: number) => number>> = { bfloat16: bfloat16ToNumber, float16: float16ToNumber };

function storage(dtype: Dtype, values: readonly number[]): CpuArray {
  if (dtype === 'float64') return Float64Array.from(values);
  if (dtype === 'float32') return Float32Array.from(values);
  return Uint16Array.from(values, encode[dtype] as (x: number) => number);
}

/** Gradients as the adapter gets them (Float64Array for float64 params, Float32Array otherwise). */
const gradArray = (dtype: Dtype, values: readonly number[]) =>
  dtype === 'float64' ? Float64Array.from(values) : Float32Array.from(values);

const value = fc.double({ min: -2, max: 2, noNaN: true, noDefaultInfinity: true });
const gradsArb = fc.tuple(
  fc.option(fc.array(value, { minLength: 3, maxLength: 3 }), { nil: null, freq: 4 }),
  fc.option(fc.array(value, { minLength: 5, maxLength: 5 }), { nil: null, freq: 4 }),
);
const nonFinite = fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY);

type Op =
  | { kind: 'step'; grads: (number[] | null)[] }
  | { kind: 'nonFiniteStep'; grads: (number[] | null)[]; param: number; bad: number }
  | { kind: 'badLr'; lr: number }
  | { kind: 'badGrad'; param: number; how: 'length' | 'type' }
  | { kind: 'swapData'; param: number; how: 'longer' | 'shorter' | 'type' | 'null' }
  | { kind: 'badStateDict'; how: 'length' | 'nanStep' | 'beta1' | 'policy' | 'scaler' }
  | { kind: 'roundTrip' }
  | { kind: 'badOptions'; options: Record<string, unknown> };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: gradsArb.map((grads) => ({ kind: 'step' as const, grads })) },
  {
    weight: 2,
    arbitrary: fc
      .record({ grads: gradsArb, param: fc.integer({ min: 0, max: 1 }), bad: nonFinite })
      .map((o) => ({ kind: 'nonFiniteStep' as const, ...o })),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(-1, Number.NaN, Number.POSITIVE_INFINITY).map((lr) => ({ kind: 'badLr' as const, lr })),
  },
  {
    weight: 1,
    arbitrary: fc
      .record({ param: fc.integer({ min: 0, max: 1 }), how: fc.constantFrom('length' as const, 'type' as const) })
      .map((o) => ({ kind: 'badGrad' as const, ...o })),
  },
  {
    weight: 1,
    arbitrary: fc
      .record({ param: fc.integer({ min: 0, max: 1 }), how: fc.constantFrom('longer', 'shorter', 'type', 'null' as const) })
      .map((o) => ({ kind: 'swapData' as const, ...(o as { param: number; how: 'longer' | 'shorter' | 'type' | 'null' }) })),
  },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom('length' as const, 'nanStep' as const, 'beta1' as const, 'policy' as const, 'scaler' as const)
      .map((how) => ({ kind: 'badStateDict' as const, how })),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'roundTrip' as const }) },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom<Record<string, unknown>>(
        { betas: [1, 0.9] },
        { eps: -1 },
        { nonFinite: 'ignore' },
        { lr: 1, weight_decay: 0 },
      )
      .map((options) => ({ kind: 'badOptions' as const, options })),
  },
);

/** Everything a refused call must leave bit-identical (the scale is checked where it moves). */
function snapshot(params: CpuParam[], opt: StableAdamW): string {
  const { skipped_steps: saved, loss_scaler: scaler, ...state } = opt.stateDict();
  expect(saved).toBe(opt.skippedSteps);
  expect(scaler?.scale).toBe(opt.lossScaler?.scale);
  return JSON.stringify({
    data: params.map((p) => Array.from(p.data as ArrayLike<number>, (x) => (Number.isNaN(x) ? 'NaN' : x))),
    state,
    steps: opt.paramGroups.map((g) => g.step),
    skipped: opt.skippedSteps,
    scale: opt.lossScaler?.scale,
  });
}

function readParam(dtype: Dtype, param: CpuParam): Float64Array {
  const d = decode[dtype];
  return Float64Array.from(param.data as ArrayLike<number>, (x) => (d ? d(x) : x));
}

function expectTyped(error: unknown): void {
  if (!StableAdamWError.isInstance(error)) throw error;
}

function corrupt(saved: StateDict, how: Extract<Op, { kind: 'badStateDict' }>['how']): unknown {
  const group = saved.param_groups[0] as StateDict['param_groups'][0];
  switch (how) {
    case 'length': {
      const [key, entry] = Object.entries(saved.state)[0] ?? ['0', { exp_avg: [], exp_avg_sq: [], kahan_comp: null }];
      return { ...saved, state: { ...saved.state, [key]: { ...entry, exp_avg: entry.exp_avg.slice(1) } } };
    }
    case 'nanStep':
      return { ...saved, param_groups: [{ ...group, step: Number.NaN }] };
    case 'beta1':
      return { ...saved, param_groups: [{ ...group, beta1: 1.5 }] };
    case 'policy':
      return { ...saved, param_groups: [{ ...group, non_finite: 'sometimes' }] };
    case 'scaler':
      return { ...saved, loss_scaler: { scale: -1 } };
  }
}

function run(dtype: Dtype, policy: NonFinitePolicy, scaled: boolean, ops: Op[]): void {
  const init = LENGTHS.map((n, i) =>
    Array.from({ length: n }, (_, j) =>
      (decode[dtype] ?? ((x: number) => x))((encode[dtype] ?? ((x: number) => x))(Math.sin(i * 7 + j))),
    ),
  );
  const params: CpuParam[] = init.map((values, i) => ({
    data: storage(dtype, values),
    ...(dtype === 'bfloat16' || dtype === 'float16' ? { dtype } : {}),
    name: `p${i}`,
  }));
  const options: StableAdamWOptions = { lr: LR, weightDecay: 0.1, nonFinite: policy };
  // A loss scaler (with 'skip' only) that grows every 3 clean steps: gradients are handed in × scale.
  const lossScaler = scaled && policy === 'skip' ? new DynamicLossScaler({ initScale: 256, growthInterval: 3 }) : undefined;
  const opt = new StableAdamW(params, { ...options, lossScaler });
  const reference = new ReferenceStableAdamW(init, [{ params: [0, 1], hyperparameters: resolveOptions(options) }], dtype);
  const scale = () => lossScaler?.scale ?? 1;
  const scaledGrad = (g: readonly number[]) =>
    gradArray(
      dtype,
      g.map((x) => x * scale()),
    );
  const tolerance = referenceTolerances(dtype, LR).params;
  const asGiven = (g: readonly number[]) => Array.from(gradArray(dtype, g));

  for (const op of ops) {
    const before = snapshot(params, opt);
    const refused = (call: () => unknown, restore?: () => void) => {
      let threw = false;
      try {
        call();
      } catch (error) {
        expectTyped(error);
        threw = true;
      }
      restore?.();
      expect(threw, `${op.kind} must be refused`).toBe(true);
      expect(snapshot(params, opt)).toBe(before);
    };
    switch (op.kind) {
      case 'step': {
        params.forEach((p, i) => {
          const g = op.grads[i];
          p.grad = g ? scaledGrad(g) : null;
        });
        opt.step();
        reference.step(op.grads.map((g) => g && asGiven(g)));
        break;
      }
      case 'nonFiniteStep': {
        const grads = op.grads.map((g, i) => (g ? [...g] : i === op.param ? Array(LENGTHS[i]).fill(0) : null));
        (grads[op.param] as number[])[0] = op.bad;
        params.forEach((p, i) => {
          const g = grads[i];
          p.grad = g ? scaledGrad(g) : null;
        });
        if (policy === 'propagate') continue; // optimi's NaN flows are covered by the conformance suite
        if (policy === 'throw') refused(() => opt.step());
        else {
          const scaleBefore = scale();
          opt.step();
          expect(opt.lastStepSkipped).toBe(true);
          expect(scale()).toBe(lossScaler ? scaleBefore / 2 : 1);
          const skippedBefore = JSON.parse(before) as { skipped: number; scale?: number };
          const expected = { ...skippedBefore, skipped: skippedBefore.skipped + 1, scale: lossScaler?.scale };
          expect(snapshot(params, opt)).toBe(JSON.stringify(expected));
        }
        break;
      }
      case 'badLr': {
        const group = opt.paramGroups[0] as { lr: number };
        refused(
          () => {
            group.lr = op.lr;
            opt.step();
          },
          () => {
            group.lr = LR;
          },
        );
        break;
      }
      case 'badGrad': {
        const n = LENGTHS[op.param] as number;
        const bad = op.how === 'length' ? gradArray(dtype, Array(n + 1).fill(0)) : new Uint8Array(n);
        refused(() => opt.step(new Map([[params[op.param] as CpuParam, bad as unknown as CpuArray]])));
        break;
      }
      case 'swapData': {
        const p = params[op.param] as CpuParam;
        const original = p.data;
        const n = original.length;
        const replacement = {
          longer: () => storage(dtype, Array(n + 1).fill(0)),
          shorter: () => storage(dtype, Array(n - 1).fill(0)),
          type: () => (dtype === 'float64' ? new Float32Array(n) : new Float64Array(n)),
          null: () => null,
        }[op.how]();
        refused(
          () => {
            p.data = replacement as CpuArray;
            opt.step(new Map([[params[0] as CpuParam, gradArray(dtype, Array(LENGTHS[0]).fill(0.1))]]));
          },
          () => {
            p.data = original;
          },
        );
        break;
      }
      case 'badStateDict': {
        const saved = JSON.parse(JSON.stringify(opt.stateDict())) as StateDict;
        if (op.how === 'length' && Object.keys(saved.state).length === 0) continue;
        refused(() => opt.loadStateDict(corrupt(saved, op.how) as StateDict));
        break;
      }
      case 'roundTrip': {
        opt.loadStateDict(JSON.parse(JSON.stringify(opt.stateDict())));
        expect(snapshot(params, opt)).toBe(before);
        break;
      }
      case 'badOptions': {
        let threw = false;
        try {
          new StableAdamW(params, op.options as unknown as StableAdamWOptions);
        } catch (error) {
          expectTyped(error);
          threw = true;
        }
        expect(threw).toBe(true);
        expect(snapshot(params, opt)).toBe(before);
        break;
      }
    }
    params.forEach((p, i) => {
      const actual = readParam(dtype, p);
      const metrics = compareValues(actual, reference.params[i] as Float64Array, tolerance, dtype);
      expect(withinTolerance(metrics, tolerance), `${dtype} ${policy} param ${i} after ${op.kind}`).toBe(true);
    });
  }
}

describe('cpu adapter under random valid and invalid calls (fast-check)', () => {
  it('either matches the float64 reference or throws a typed error and changes nothing', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<Dtype>('float64', 'float32', 'bfloat16', 'float16'),
        fc.constantFrom<NonFinitePolicy>('propagate', 'skip', 'throw'),
        fc.boolean(),
        fc.array(opArb, { minLength: 1, maxLength: 16 }),
        (dtype, policy, scaled, ops) => run(dtype, policy, scaled, ops),
      ),
      { numRuns: 300, seed: 20240515 },
    );
  });
});
