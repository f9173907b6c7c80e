import type { Dtype, ParamGroupInput, StableAdamWOptions } from '@stable-adamw/core';
import type { ExpectedValues, Scenario, ScenarioStep, ScenarioTolerances, Tolerance } from './scenario.js';

type Json = Record<string, unknown>;

const FP32_TOLERANCE: Tolerance = { kind: 'elementwise', atol: 1e-6, rtol: 1e-5 };
type Values = (number | string)[];

const NON_FINITE: Record<string, number> = { NaN: Number.NaN, Infinity: Infinity, '-Infinity': -Infinity };

function numbers(values: Values): number[] {
  return values.map((x) => (typeof x === 'number' ? x : (NON_FINITE[x] as number)));
}

function nullableNumbers(values: Values | null): number[] | null {
  return values === null ? null : numbers(values);
}

/** optimi's snake_case hyperparameters → our camelCase options (null means "not set"). */
function camelOptions(o: Json): Partial<StableAdamWOptions> {
  const keys: Record<string, keyof StableAdamWOptions> = {
    lr: 'lr',
    betas: 'betas',
    weight_decay: 'weightDecay',
    eps: 'eps',
    decouple_lr: 'decoupleLr',
    max_lr: 'maxLr',
    kahan_sum: 'kahanSum',
  };
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(o)) {
    const name = keys[key];
    if (name && value !== null) out[name] = value;
  }
  return out as Partial<StableAdamWOptions>;
}

/** Scenarios in the first golden format (`golden/*.json`). */
function fromV1(file: Json): Scenario {
  const tol = file.tolerance as { atol: number; rtol: number; max_fraction_outside?: number };
  const tolerance: Tolerance = {
    kind: 'elementwise',
    atol: tol.atol,
    rtol: tol.rtol,
    ...(tol.max_fraction_outside === undefined ? {} : { maxFractionOutside: tol.max_fraction_outside }),
  };
  const steps = (file.steps as Json[]).map((step): ScenarioStep => {
    const state = step.state as ({ exp_avg: Values; exp_avg_sq: Values } | null)[];
    return {
      grads: (step.grads as (Values | null)[]).map(nullableNumbers),
      ...(step.lr ? { lr: numbers(step.lr as Values) } : {}),
      expected: {
        params: (step.params as Values[]).map(numbers),
        expAvg: state.map((s) => (s ? numbers(s.exp_avg) : null)),
        expAvgSq: state.map((s) => (s ? numbers(s.exp_avg_sq) : null)),
      },
    };
  });
  return {
    name: file.name as string,
    description: (file.note as string) || `optimi golden trajectory ${file.name as string}`,
    source: 'optimi',
    dtype: file.dtype as Dtype,
    options: camelOptions(file.options as Json) as StableAdamWOptions,
    groups: (file.groups as Json[]).map(({ params, ...rest }) => ({
      params: params as number[],
      ...camelOptions(rest),
    })) as ParamGroupInput<number>[],
    params: (file.params as { shape: number[]; init: Values }[]).map((p) => ({ shape: p.shape, init: numbers(p.init) })),
    steps,
    tolerance: { params: tolerance, expAvg: tolerance, expAvgSq: tolerance },
  };
}

/** Scenarios in the second golden format (`golden/extra/*.json`, `optimi-stableadamw-golden/1`). */
function fromV2(file: Json): Scenario {
  const hyper = file.hyperparameters as { constructor: Json; groups: Json[] };
  const options = camelOptions(hyper.constructor) as StableAdamWOptions;
  const steps = (file.steps as Json[]).map((step): ScenarioStep => {
    const e = step.expected as Record<string, (Values | null)[]> | undefined;
    const expected: ExpectedValues | undefined = e && {
      params: (e.params as Values[]).map(numbers),
      expAvg: (e.exp_avg as (Values | null)[]).map(nullableNumbers),
      expAvgSq: (e.exp_avg_sq as (Values | null)[]).map(nullableNumbers),
    };
    return {
      grads: (step.grads as (Values | null)[]).map(nullableNumbers),
      lr: numbers(step.lr as Values),
      ...(step.optimizer_accumulation === true ? { accumulate: true } : {}),
      ...(expected ? { expected } : {}),
    };
  });
  const release = file.mode === 'gradient_release' || file.mode === 'accumulation';
  const dtype = file.param_dtype as Dtype;
  // fp32: optimi's own test tolerance. 16-bit: the extra README's rule for semantics that are not
  // bit-identical to optimi's.
  const ulp: Tolerance = { kind: 'ulp', ulps: 2, atol: 2 * options.lr };
  const tolerance: ScenarioTolerances =
    dtype === 'float32'
      ? { params: FP32_TOLERANCE, expAvg: FP32_TOLERANCE, expAvgSq: FP32_TOLERANCE }
      : { params: ulp, expAvg: ulp, expAvgSq: { kind: 'elementwise', atol: 0, rtol: 0.1 } };
  return {
    name: file.scenario as string,
    description: file.description as string,
    source: 'optimi',
    dtype,
    ...(release ? { mode: 'gradient-release' as const } : {}),
    options: release ? { ...options, gradientRelease: true } : options,
    groups: hyper.groups.map(({ params, ...rest }) => ({
      params: params as number[],
      ...camelOptions(rest),
    })) as ParamGroupInput<number>[],
    params: (file.params as { shape: number[]; init: Values; name: string }[]).map((p) => ({
      shape: p.shape,
      init: numbers(p.init),
      name: p.name,
    })),
    steps,
    tolerance,
  };
}

/** One recorded optimi trajectory: its name, storage dtype, mode and a loader for its JSON file. */
export interface GoldenEntry {
  readonly name: string;
  readonly dtype: Dtype;
  /** `normal`: one `step()` per group; `gradient-release`: per-parameter steps (and accumulation). */
  readonly mode: 'normal' | 'gradient-release';
  readonly load: () => Promise<Scenario>;
}

type JsonModule = Promise<{ default: unknown }>;

// Each file is imported on first use with an explicit path, so bundlers emit one lazy chunk per
// file and Node reads it from `fixtures/` next to `dist/`: nothing is inlined into the entry.
const entry = (format: (file: Json) => Scenario, importer: () => JsonModule) => async (): Promise<Scenario> =>
  format((await importer()).default as Json);

/** optimi's golden trajectories, listed without loading them. */
export const goldenEntries: readonly GoldenEntry[] = [
  {
    name: 'defaults-f32',
    dtype: 'float32',
    mode: 'normal',
    load: entry(fromV1, () => import('../fixtures/golden/defaults-f32.json', { with: { type: 'json' } })),
  },
  {
    name: 'float64',
    dtype: 'float64',
    mode: 'normal',
    load: entry(fromV1, () => import('../fixtures/golden/float64.json', { with: { type: 'json' } })),
  },
  {
    name: 'no-weight-decay-f32',
    dtype: 'float32',
    mode: 'normal',
    load: entry(fromV1, () => import('../fixtures/golden/no-weight-decay-f32.json', { with: { type: 'json' } })),
  },
  {
    name: 'betas-eps-f32',
    dtype: 'float32',
    mode: 'normal',
    load: entry(fromV1, () => import('../fixtures/golden/betas-eps-f32.json', { with: { type: 'json' } })),
  },
  {
    name: 'clipping-spikes-f32',
    dtype: 'float32',
    mode: 'normal',
    load: entry(fromV1, () => import('../fixtures/golden/clipping-spikes-f32.json', { with: { type: 'json' } })),
  },
  {
    name: 'zero-grads-f32',
    dtype: 'float32',
    mode: 'normal',
    load: entry(fromV1, () => import('../fixtures/golden/zero-grads-f32.json', { with: { type: 'json' } })),
  },
  {
    name: 'skipped-grads-f32',
    dtype: 'float32',
    mode: 'normal',
    load: entry(fromV1, () => import('../fixtures/golden/skipped-grads-f32.json', { with: { type: 'json' } })),
  },
  {
    name: 'param-groups-f32',
    dtype: 'float32',
    mode: 'normal',
    load: entry(fromV1, () => import('../fixtures/golden/param-groups-f32.json', { with: { type: 'json' } })),
  },
  {
    name: 'decoupled-lr-schedule-f32',
    dtype: 'float32',
    mode: 'normal',
    load: entry(fromV1, () => import('../fixtures/golden/decoupled-lr-schedule-f32.json', { with: { type: 'json' } })),
  },
  {
    name: 'bf16-kahan',
    dtype: 'bfloat16',
    mode: 'normal',
    load: entry(fromV1, () => import('../fixtures/golden/bf16-kahan.json', { with: { type: 'json' } })),
  },
  {
    name: 'bf16-no-kahan',
    dtype: 'bfloat16',
    mode: 'normal',
    load: entry(fromV1, () => import('../fixtures/golden/bf16-no-kahan.json', { with: { type: 'json' } })),
  },
  {
    name: 'bf16-f32-shadow',
    dtype: 'float32',
    mode: 'normal',
    load: entry(fromV1, () => import('../fixtures/golden/bf16-f32-shadow.json', { with: { type: 'json' } })),
  },
  {
    name: 'j_fp16_kahan',
    dtype: 'float16',
    mode: 'normal',
    load: entry(fromV2, () => import('../fixtures/golden/extra/j_fp16_kahan.json', { with: { type: 'json' } })),
  },
  {
    name: 'k1_gradient_release',
    dtype: 'float32',
    mode: 'gradient-release',
    load: entry(fromV2, () => import('../fixtures/golden/extra/k1_gradient_release.json', { with: { type: 'json' } })),
  },
  {
    name: 'k3_gradient_release_late_param',
    dtype: 'float32',
    mode: 'gradient-release',
    load: entry(fromV2, () => import('../fixtures/golden/extra/k3_gradient_release_late_param.json', { with: { type: 'json' } })),
  },
  {
    name: 'k2_optimizer_accumulation',
    dtype: 'float32',
    mode: 'gradient-release',
    load: entry(fromV2, () => import('../fixtures/golden/extra/k2_optimizer_accumulation.json', { with: { type: 'json' } })),
  },
];

/** Loads a golden scenario by name (e.g. `defaults-f32`, `bf16-kahan`, `k1_gradient_release`). */
export function loadGoldenScenario(name: string): Promise<Scenario> {
  const found = goldenEntries.find((e) => e.name === name);
  if (!found) throw new Error(`No golden scenario named ${name}`);
  return found.load();
}

/** Loads every golden scenario of a mode (and, if given, a dtype). */
export function loadGoldenScenarios(mode: GoldenEntry['mode'], dtype?: Dtype): Promise<Scenario[]> {
  return Promise.all(
    goldenEntries.filter((e) => e.mode === mode && (dtype === undefined || e.dtype === dtype)).map((e) => e.load()),
  );
}
