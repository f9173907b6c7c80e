import { compareValues, referenceTolerances, withinTolerance } from '@stable-adamw/conformance';
import {
  bfloat16ToNumber,
  type CheckpointLayout,
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
import { expect } from 'vitest';

// The training-safety property test every adapter runs: random sequences of valid and invalid
// calls. After every call either it succeeded and the params match the float64 reference, or it
// threw a typed StableAdamWError and params, state and counters are bit-identical to before.
// The calls every adapter shares are driven here; each adapter adds its own bad inputs (gradients
// of the wrong kind, swapped or disposed data) through `extraOps` and `runExtra`.

/** Lengths of the two params of every run. */
export const PROPERTY_LENGTHS = [3, 5] as const;
const LR = 1e-2;
const OPTIONS = { lr: LR, weightDecay: 0.1 } as const;

/** Gradients of one step, per param; `null` = the param has none this step. */
export type Grads = (readonly number[] | null)[];

type BadStateDict = 'length' | 'nanStep' | 'beta1' | 'policy' | 'scaler';

type CommonOp =
  | { kind: 'step'; grads: Grads }
  | { kind: 'nonFiniteStep'; grads: Grads; param: number; bad: number }
  | { kind: 'badLr'; lr: number }
  | { kind: 'badStateDict'; how: BadStateDict }
  | { kind: 'roundTrip' }
  | { kind: 'checkpoint'; layout: CheckpointLayout; truncate: boolean }
  | { kind: 'badOptions'; options: Record<string, unknown> | undefined };

/** The optimizer members the property reads (every adapter's `StableAdamW` has them). */
export interface PropertyOptimizer {
  readonly paramGroups: readonly { step: number; lr: number }[];
  readonly skippedSteps: number;
  readonly lastStepSkipped: boolean;
  readonly lossScaler: DynamicLossScaler | undefined;
  stateDict(): StateDict | Promise<StateDict>;
  loadStateDict(state: StateDict): unknown;
  saveCheckpoint(options: { layout: CheckpointLayout }): Uint8Array | Promise<Uint8Array>;
  loadCheckpoint(bytes: Uint8Array, options: { layout: CheckpointLayout }): unknown;
}

/** What a refused call must leave as it was: `skipParam` leaves one param's values out (it can't be read). */
export type Refused = (call: () => unknown, restore?: () => void, skipParam?: number) => Promise<void>;

/** One adapter's optimizer over two params, as the property drives it. */
export interface SafetySubject {
  readonly optimizer: PropertyOptimizer;
  /** Hands these gradients (already × the loss scale) to the optimizer and steps. */
  step(grads: Grads): unknown;
  /** Constructs another optimizer over the same params with `options` (which must be refused). */
  construct(options: Record<string, unknown> | undefined): unknown;
  /** The params' values as float64, `null` for `skipParam`. */
  readParams(skipParam?: number): Promise<(Float64Array | null)[]>;
  /** Further counters a refused call must leave alone (tfjs's `iterations`, live tensors). */
  counters?(): Record<string, number>;
  /** Counters that still count a skipped step. */
  readonly countsSkippedSteps?: readonly string[];
  /** Counters a successful load may change (state uploaded lazily). */
  readonly movedByLoad?: readonly string[];
  dispose(): unknown;
}

/** How an adapter's property run is set up, and its own bad inputs. */
export interface SafetyPropertyConfig<Extra extends { kind: string }> {
  readonly dtypes: readonly Dtype[];
  readonly seed: number;
  readonly numRuns?: number;
  /** Builds the subject over params holding `init` (already representable in `dtype`). */
  subject(dtype: Dtype, init: number[][], options: StableAdamWOptions): SafetySubject | Promise<SafetySubject>;
  readonly extraOps: readonly { weight: number; arbitrary: fc.Arbitrary<Extra> }[];
  /** Runs one of `extraOps`: `'end'` ends the sequence (nothing can come back from it). */
  runExtra(op: Extra, subject: SafetySubject, refused: Refused): Promise<'end' | undefined>;
}

const value = fc.double({ min: -2, max: 2, noNaN: true, noDefaultInfinity: true });
const gradsArb = fc.tuple(
  fc.option(fc.array(value, { minLength: 3, maxLength: 3 }), { nil: null, freq: 4 }),
  fc.option(fc.array(value, { minLength: 5, maxLength: 5 }), { nil: null, freq: 4 }),
);
/** Which of the two params an op targets. */
export const paramArb = fc.integer({ min: 0, max: 1 });

/** An adapter's own op on one of the two params: `{ kind, param, how }`, `how` one of `hows`. */
export function paramOp<K extends string, H extends string>(
  kind: K,
  hows: readonly [H, ...H[]],
): { weight: number; arbitrary: fc.Arbitrary<{ kind: K; param: number; how: H }> } {
  return {
    weight: 1,
    arbitrary: fc.record({ param: paramArb, how: fc.constantFrom(...hows) }).map((o) => ({ kind, ...o })),
  };
}

const commonOps: { weight: number; arbitrary: fc.Arbitrary<CommonOp> }[] = [
  { weight: 4, arbitrary: gradsArb.map((grads) => ({ kind: 'step' as const, grads })) },
  {
    weight: 2,
    arbitrary: fc
      .record({ grads: gradsArb, param: paramArb, bad: fc.constantFrom(Number.NaN, Infinity, -Infinity) })
      .map((o) => ({ kind: 'nonFiniteStep' as const, ...o })),
  },
  { weight: 1, arbitrary: fc.constantFrom(-1, Number.NaN, Infinity).map((lr) => ({ kind: 'badLr' as const, lr })) },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom<BadStateDict>('length', 'nanStep', 'beta1', 'policy', 'scaler')
      .map((how) => ({ kind: 'badStateDict' as const, how })),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'roundTrip' as const }) },
  {
    weight: 1,
    arbitrary: fc
      .record({ layout: fc.constantFrom<CheckpointLayout>('optimi', 'torch-adamw'), truncate: fc.boolean() })
      .map((o) => ({ kind: 'checkpoint' as const, ...o })),
  },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom<Record<string, unknown> | undefined>(
        undefined,
        { betas: [1, 0.9] },
        { eps: -1 },
        { nonFinite: 'ignore' },
        { lr: 1, weight_decay: 0 },
      )
      .map((options) => ({ kind: 'badOptions' as const, options })),
  },
];

/** `x` rounded to what a `dtype` param can hold. */
function representable(dtype: Dtype, x: number): number {
  if (dtype === 'bfloat16') return bfloat16ToNumber(numberToBfloat16(x));
  if (dtype === 'float16') return float16ToNumber(numberToFloat16(x));
  return dtype === 'float64' ? x : Math.fround(x);
}

/** Gradients as the adapter holds them: float64 for float64 params, float32 otherwise. */
const asHeld = (dtype: Dtype, g: readonly number[]) => (dtype === 'float64' ? [...g] : Array.from(Float32Array.from(g)));

function corrupt(saved: StateDict, how: BadStateDict): unknown {
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

function expectTyped(error: unknown): void {
  if (!StableAdamWError.isInstance(error)) throw error;
}

/** Everything a refused call must leave bit-identical (the scale is checked where it moves). */
async function snapshot(subject: SafetySubject, skipParam?: number): Promise<Record<string, unknown>> {
  const opt = subject.optimizer;
  const { skipped_steps: saved, loss_scaler: scaler, ...state } = await opt.stateDict();
  expect(saved).toBe(opt.skippedSteps);
  expect(scaler?.scale).toBe(opt.lossScaler?.scale);
  const data = (await subject.readParams(skipParam)).map((v) => v && Array.from(v, (x) => (Number.isNaN(x) ? 'NaN' : x)));
  return {
    data,
    state: JSON.parse(JSON.stringify(state)),
    steps: opt.paramGroups.map((g) => g.step),
    skipped: opt.skippedSteps,
    scale: opt.lossScaler?.scale,
    ...subject.counters?.(),
  };
}

const without = (snap: Record<string, unknown>, keys: readonly string[]) =>
  Object.fromEntries(Object.entries(snap).filter(([key]) => !keys.includes(key)));

async function run<Extra extends { kind: string }>(
  config: SafetyPropertyConfig<Extra>,
  dtype: Dtype,
  policy: NonFinitePolicy,
  scaled: boolean,
  ops: (CommonOp | Extra)[],
): Promise<void> {
  const init = PROPERTY_LENGTHS.map((n, i) => Array.from({ length: n }, (_, j) => representable(dtype, Math.sin(i * 7 + j))));
  const options: StableAdamWOptions = { ...OPTIONS, nonFinite: policy };
  // A loss scaler (with 'skip' only) that grows every 3 clean steps: gradients are handed in × scale.
  const lossScaler = scaled && policy === 'skip' ? new DynamicLossScaler({ initScale: 256, growthInterval: 3 }) : undefined;
  const subject = await config.subject(dtype, init, { ...options, lossScaler });
  const opt = subject.optimizer;
  const reference = new ReferenceStableAdamW(init, [{ params: [0, 1], hyperparameters: resolveOptions(options) }], dtype);
  const tolerance = referenceTolerances(dtype, LR).params;
  const scale = () => lossScaler?.scale ?? 1;
  const step = (grads: Grads) => subject.step(grads.map((g) => (g ? g.map((x) => x * scale()) : null)));

  try {
    for (const op of ops) {
      const before = await snapshot(subject);
      const refused: Refused = async (call, restore, skipParam) => {
        const expected = skipParam === undefined ? before : await snapshot(subject, skipParam);
        let threw = false;
        try {
          await call();
        } catch (error) {
          expectTyped(error);
          threw = true;
        }
        restore?.();
        expect(threw, `${op.kind} must be refused`).toBe(true);
        expect(await snapshot(subject, skipParam)).toEqual(expected);
      };
      const common = op as CommonOp;
      switch (common.kind) {
        case 'step':
          await step(common.grads);
          reference.step(common.grads.map((g) => (g ? asHeld(dtype, g) : null)));
          break;
        case 'nonFiniteStep': {
          if (policy === 'propagate') continue; // optimi's NaN flows are covered by the conformance suite
          const grads = common.grads.map((g, i) =>
            g ? [...g] : i === common.param ? Array<number>(PROPERTY_LENGTHS[i] as number).fill(0) : null,
          );
          (grads[common.param] as number[])[0] = common.bad;
          if (policy === 'throw') await refused(() => step(grads));
          else {
            const scaleBefore = scale();
            await step(grads);
            expect(opt.lastStepSkipped).toBe(true);
            expect(scale()).toBe(lossScaler ? scaleBefore / 2 : 1);
            const counted = Object.fromEntries(
              (subject.countsSkippedSteps ?? []).map((key) => [key, (before[key] as number) + 1]),
            );
            const expected = { ...before, skipped: (before.skipped as number) + 1, scale: lossScaler?.scale, ...counted };
            expect(await snapshot(subject)).toEqual(expected);
          }
          break;
        }
        case 'badLr': {
          const group = opt.paramGroups[0] as { lr: number };
          await refused(
            () => {
              group.lr = common.lr;
              return step([Array(PROPERTY_LENGTHS[0]).fill(0.1), null]);
            },
            () => {
              group.lr = LR;
            },
          );
          break;
        }
        case 'badStateDict': {
          const saved = JSON.parse(JSON.stringify(await opt.stateDict())) as StateDict;
          if (common.how === 'length' && Object.keys(saved.state).length === 0) continue;
          await refused(() => opt.loadStateDict(corrupt(saved, common.how) as StateDict));
          break;
        }
        case 'roundTrip': {
          await opt.loadStateDict(JSON.parse(JSON.stringify(await opt.stateDict())));
          const moved = subject.movedByLoad ?? [];
          expect(without(await snapshot(subject), moved)).toEqual(without(before, moved));
          break;
        }
        case 'checkpoint': {
          const bytes = await opt.saveCheckpoint({ layout: common.layout });
          if (common.truncate) {
            await refused(() => opt.loadCheckpoint(bytes.subarray(0, bytes.length - 1), { layout: common.layout }));
            break;
          }
          await opt.loadCheckpoint(bytes, { layout: common.layout });
          // optimi's layout stores the moments as they are: bit for bit. torch's biases them by
          // (1 − β^t) and back, so they may move by a rounding: the reference check below and the
          // later steps cover them; everything else is as before.
          const ignored = ['state', ...(subject.movedByLoad ?? [])];
          const after = await snapshot(subject);
          if (common.layout === 'optimi') expect(after.state).toEqual(before.state);
          expect(without(after, ignored)).toEqual(without(before, ignored));
          break;
        }
        case 'badOptions': {
          let threw = false;
          try {
            subject.construct(common.options);
          } catch (error) {
            expectTyped(error);
            threw = true;
          }
          expect(threw).toBe(true);
          expect(await snapshot(subject)).toEqual(before);
          break;
        }
        default:
          if ((await config.runExtra(op as Extra, subject, refused)) === 'end') return;
      }
      (await subject.readParams()).forEach((values, i) => {
        const metrics = compareValues(values as Float64Array, reference.params[i] as Float64Array, tolerance, dtype);
        expect(withinTolerance(metrics, tolerance), `${dtype} ${policy} param ${i} after ${op.kind}`).toBe(true);
      });
    }
  } finally {
    await subject.dispose();
  }
}

/**
 * Runs the property (fast-check, seeded) over every dtype of `config`, each non-finite policy,
 * with and without a loss scaler.
 */
export async function checkSafetyProperty<Extra extends { kind: string }>(config: SafetyPropertyConfig<Extra>): Promise<void> {
  const ops = fc.oneof(...commonOps, ...config.extraOps) as fc.Arbitrary<CommonOp | Extra>;
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...config.dtypes),
      fc.constantFrom<NonFinitePolicy>('propagate', 'skip', 'throw'),
      fc.boolean(),
      fc.array(ops, { minLength: 1, maxLength: 16 }),
      (dtype, policy, scaled, sequence) => run(config, dtype, policy, scaled, sequence),
    ),
    { numRuns: config.numRuns ?? 300, seed: config.seed },
  );
}
