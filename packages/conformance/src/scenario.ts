import type { Dtype, ParamGroupInput, StableAdamWOptions } from '@stable-adamw/core';

/** How close an actual value must be to an expected one. */
export type Tolerance =
  /** |a − e| ≤ atol + rtol·|e|, for all but `maxFractionOutside` of the elements (default 0). */
  | { kind: 'elementwise'; atol: number; rtol: number; maxFractionOutside?: number }
  /** |a − e| ≤ max(ulps·ulp(e), atol), ulp taken in `dtype` (the golden README's 16-bit rule). */
  | { kind: 'ulp'; ulps: number; atol: number };

/** Tolerances per compared quantity. */
export interface ScenarioTolerances {
  params: Tolerance;
  expAvg: Tolerance;
  expAvgSq: Tolerance;
}

/** Values after a step, per param in scenario order (`null`: no state yet; a missing field is not checked). */
export interface ExpectedValues {
  params: number[][];
  expAvg?: (number[] | null)[];
  expAvgSq?: (number[] | null)[];
}

export interface ScenarioStep {
  /** Per param: the gradient, or null for none this step. */
  grads: (number[] | null)[];
  /** Gradient-release scenarios: this call only accumulates moments (`optimizer.accumulate`). */
  accumulate?: boolean;
  /** Per group: the lr a scheduler sets before this step. */
  lr?: number[];
  /** Where recorded: the values after this step (from optimi, or hand-derived). */
  expected?: ExpectedValues;
}

export interface ScenarioParam {
  shape: number[];
  /** Flattened row-major initial values, exactly representable in the scenario dtype. */
  init: number[];
  name?: string;
}

/** A reproducible optimization run: params, groups, options and per-step gradients. */
export interface Scenario {
  name: string;
  description: string;
  /** Where expected values come from: optimi itself, hand derivation, or none (reference only). */
  source: 'optimi' | 'hand-derived' | 'generated';
  dtype: Dtype;
  /**
   * `normal`: one `step()` per scenario step. `gradient-release`: each param with a gradient is
   * stepped alone with `stepParam` (in backward order), honouring `accumulate`, then a plain `step()`
   * that must change nothing. Needs `gradientRelease: true` in the options.
   */
  mode?: 'normal' | 'gradient-release';
  options: StableAdamWOptions;
  /** Param groups by index into `params`. */
  groups: ParamGroupInput<number>[];
  params: ScenarioParam[];
  steps: ScenarioStep[];
  tolerance: ScenarioTolerances;
}

/** Flat optimizer order of a scenario's params (group by group), mapped to scenario indices. */
export function flatParamOrder(scenario: Scenario): number[] {
  return scenario.groups.flatMap((g) => [...g.params]);
}

const FP32: Tolerance = { kind: 'elementwise', atol: 1e-6, rtol: 1e-5 };
const FP64: Tolerance = { kind: 'elementwise', atol: 1e-12, rtol: 1e-10 };

/**
 * Tolerances against the float64 reference of the same storage dtype: optimi's own fp32 test
 * tolerance, 1e-12 for float64, and the golden README's 2-ulp/2·lr rule for 16-bit storage.
 */
export function referenceTolerances(dtype: Dtype, lr: number): ScenarioTolerances {
  if (dtype === 'float64') return { params: FP64, expAvg: FP64, expAvgSq: FP64 };
  if (dtype === 'float32') return { params: FP32, expAvg: FP32, expAvgSq: FP32 };
  const ulp: Tolerance = { kind: 'ulp', ulps: 2, atol: 2 * lr };
  return { params: ulp, expAvg: { kind: 'ulp', ulps: 2, atol: 0 }, expAvgSq: { kind: 'elementwise', atol: 0, rtol: 0.1 } };
}
