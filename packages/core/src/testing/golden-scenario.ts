/**
 * Test support (not exported): optimi's golden trajectories from `@stable-adamw/conformance`'s
 * fixtures, read from the workspace, and a state dict holding one recorded step.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { TensorInfo } from '../contract.js';
import type { Dtype } from '../dtype.js';
import type { StateDict } from '../state-dict.js';

type Values = number[];
type MomentState = { exp_avg: Values; exp_avg_sq: Values } | null;

interface GroupSpec {
  params: number[];
  lr?: number;
  betas?: [number, number];
  eps?: number;
  weight_decay?: number;
  decouple_lr?: boolean;
  max_lr?: number;
}

export interface GoldenScenario {
  name: string;
  dtype: Dtype;
  options: Omit<GroupSpec, 'params'> & { lr: number };
  groups: GroupSpec[];
  params: { shape: number[]; init: Values }[];
  steps: { grads: (Values | null)[]; lr?: number[]; params: Values[]; state: MomentState[] }[];
  tolerance: { atol: number; rtol: number; max_fraction_outside?: number };
}

export const GOLDEN_DIR = fileURLToPath(new URL('../../../conformance/fixtures/golden/', import.meta.url));

export function goldenScenario(name: string): GoldenScenario {
  return JSON.parse(readFileSync(`${GOLDEN_DIR}${name}.json`, 'utf8')) as GoldenScenario;
}

/** The params' infos per group (golden shapes, names `p<i>`), as an optimizer over them reports. */
export function goldenGroups(s: GoldenScenario): TensorInfo[][] {
  return s.groups.map((g) =>
    g.params.map((i) => {
      const { shape, init } = s.params[i] as GoldenScenario['params'][number];
      return { numel: init.length, dtype: s.dtype, shape, name: `p${i}` };
    }),
  );
}

/** The group's hyperparameters at step k with optimi's defaults filled in. */
function groupAt(s: GoldenScenario, g: number, k: number) {
  const spec = { ...s.options, ...(s.groups[g] as GroupSpec) };
  const betas = spec.betas ?? [0.9, 0.99];
  const decoupleLr = spec.decouple_lr ?? false;
  return {
    lr: s.steps[k - 1]?.lr?.[g] ?? spec.lr,
    beta1: betas[0],
    beta2: betas[1],
    eps: spec.eps ?? 1e-6,
    weight_decay: spec.weight_decay ?? 1e-2,
    decouple_lr: decoupleLr,
    max_lr: spec.max_lr ?? (decoupleLr ? s.options.lr : null),
    kahan_sum: null,
    gradient_release: false,
  };
}

/** optimi's state after recorded step k (1-based), as a StableAdamW state dict, by hand from the fixture. */
export function goldenStateDict(s: GoldenScenario, k: number): StateDict {
  const step = s.steps[k - 1] as GoldenScenario['steps'][number];
  const state: StateDict['state'] = {};
  step.state.forEach((m, i) => {
    if (m) state[i] = { exp_avg: m.exp_avg, exp_avg_sq: m.exp_avg_sq, kahan_comp: null };
  });
  return {
    state,
    param_groups: s.groups.map((g, gi) => ({ ...groupAt(s, gi, k), step: k, params: g.params })),
  };
}

/** Elements outside |actual − expected| ≤ atol + rtol·|expected|. */
export function countOutside(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: GoldenScenario['tolerance']): number {
  let out = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i] as number;
    if (!(Math.abs((actual[i] as number) - e) <= tol.atol + tol.rtol * Math.abs(e))) out++;
  }
  return out;
}
