import type { Dtype, MaybePromise, StateDict } from '@stable-adamw/core';
import { buildParamGroups, ReferenceStableAdamW, resolveOptions } from '@stable-adamw/core/adapter';
import { flatParamOrder, type Scenario } from './scenario.js';

/** The optimizer surface the conformance suite drives (every adapter's `StableAdamW` has it). */
export interface HarnessOptimizer {
  readonly paramGroups: readonly { lr: number; step: number }[];
  /** Optimizer accumulation (gradient-release scenarios only). */
  accumulate?: boolean;
  step(): MaybePromise<void>;
  stateDict(): MaybePromise<StateDict>;
  loadStateDict(stateDict: StateDict): MaybePromise<void>;
}

/**
 * An adapter's optimizer over params built from a scenario, plus the two things only the adapter
 * knows how to do: hand in gradients and read params back as float64 values.
 */
export interface OptimizerHarness {
  readonly optimizer: HarnessOptimizer;
  /** The backend that actually executed (e.g. `tfjs-webgl`), for reports. */
  readonly backendId: string;
  /** Sets each param's gradient (scenario order; null = no gradient), rounded to the param's dtype. */
  setGrads(grads: readonly (ArrayLike<number> | null)[]): MaybePromise<void>;
  /**
   * Gradient release: steps param `index` (scenario order) alone with `grad`, through the
   * adapter's per-parameter entry point. Required by targets that declare `gradientRelease`.
   */
  stepParam?(index: number, grad: ArrayLike<number>): MaybePromise<void>;
  /** Reads every param (scenario order) as float64 values. */
  readParams(): MaybePromise<Float64Array[]>;
  /** Frees params, gradients and optimizer state. */
  dispose(): MaybePromise<void>;
}

/** What an adapter needs to build a harness: params (scenario order), groups by index, options. */
export type HarnessSpec = Pick<Scenario, 'dtype' | 'params' | 'groups' | 'options'>;

/** A `nonFinite` policy other than optimi's 'propagate'. */
export type SafetyPolicy = 'skip' | 'throw';

/** An adapter under test: the dtypes it stores and a harness factory. */
export interface ConformanceTarget {
  /** Names the target in test titles, e.g. `cpu` or `tfjs-wasm`. */
  readonly id: string;
  readonly dtypes: readonly Dtype[];
  /** The harness implements `stepParam`: run the gradient-release and accumulation checks. */
  readonly gradientRelease?: boolean;
  /**
   * The `nonFinite` policies the adapter supports, for the training-safety checks: `true` for both
   * 'skip' and 'throw', or a list (a `lossScaler` is checked where 'skip' is listed).
   */
  readonly nonFinite?: boolean | readonly SafetyPolicy[];
  create(spec: HarnessSpec): MaybePromise<OptimizerHarness>;
}

/** Values observed after a step, in scenario order (`null` where a param has no state). */
export interface ObservedValues {
  params: Float64Array[];
  expAvg: (Float64Array | null)[];
  expAvgSq: (Float64Array | null)[];
}

/** Reads params and moments (through the state dict) of a harness, in scenario order. */
export async function observe(harness: OptimizerHarness, scenario: Scenario): Promise<ObservedValues> {
  const params = await harness.readParams();
  const stateDict = await harness.optimizer.stateDict();
  const order = flatParamOrder(scenario);
  const expAvg: (Float64Array | null)[] = scenario.params.map(() => null);
  const expAvgSq: (Float64Array | null)[] = scenario.params.map(() => null);
  for (const [key, entry] of Object.entries(stateDict.state)) {
    const i = order[Number(key)] as number;
    expAvg[i] = Float64Array.from(entry.exp_avg, Number);
    expAvgSq[i] = Float64Array.from(entry.exp_avg_sq, Number);
  }
  return { params, expAvg, expAvgSq };
}

/** Params with a gradient in a step, in backward order (the reverse of the optimizer's order). */
function releaseOrder(scenario: Scenario, grads: readonly (ArrayLike<number> | null)[]): number[] {
  return flatParamOrder(scenario)
    .reverse()
    .filter((i) => grads[i] != null);
}

/**
 * Applies a scenario step's scheduled lr and gradients, then steps. In gradient-release mode each
 * param is stepped alone (honouring `accumulate`), then a framework-style `step()` without
 * gradients runs, which must change nothing.
 */
export async function runStep(harness: OptimizerHarness, scenario: Scenario, t: number): Promise<void> {
  const step = scenario.steps[t];
  if (!step) throw new Error(`Scenario ${scenario.name} has no step ${t}`);
  const { optimizer } = harness;
  step.lr?.forEach((lr, g) => {
    (optimizer.paramGroups[g] as { lr: number }).lr = lr;
  });
  if (scenario.mode === 'gradient-release') {
    if (!harness.stepParam) throw new Error(`${harness.backendId}: the harness has no stepParam for ${scenario.name}`);
    optimizer.accumulate = step.accumulate ?? false;
    for (const i of releaseOrder(scenario, step.grads)) await harness.stepParam(i, step.grads[i] as number[]);
    optimizer.accumulate = false;
    await harness.setGrads(step.grads.map(() => null));
  } else {
    await harness.setGrads(step.grads);
  }
  await optimizer.step();
}

/** Replays a scenario on a harness, calling `onStep` after each step with the step index. */
export async function replay(
  harness: OptimizerHarness,
  scenario: Scenario,
  onStep: (t: number) => MaybePromise<void>,
  steps = scenario.steps.length,
): Promise<void> {
  for (let t = 0; t < steps; t++) {
    await runStep(harness, scenario, t);
    await onStep(t);
  }
}

/** A float64 reference optimizer set up like the scenario (same groups, options, storage dtype). */
export function referenceFor(scenario: Scenario): ReferenceStableAdamW {
  const defaults = resolveOptions(scenario.options);
  const groups = buildParamGroups<number>(scenario.groups, defaults).map((group) => ({
    params: group.params,
    hyperparameters: { ...group },
  }));
  return new ReferenceStableAdamW(
    scenario.params.map((p) => p.init),
    groups,
    scenario.dtype,
  );
}

/** Steps the reference through scenario step `t` (scheduled lr included). */
export function referenceStep(reference: ReferenceStableAdamW, scenario: Scenario, t: number): void {
  const step = scenario.steps[t];
  if (!step) throw new Error(`Scenario ${scenario.name} has no step ${t}`);
  step.lr?.forEach((lr, g) => {
    (reference.groups[g] as { hyperparameters: { lr: number } }).hyperparameters.lr = lr;
  });
  if (scenario.mode === 'gradient-release') {
    for (const i of releaseOrder(scenario, step.grads)) reference.stepParam(i, step.grads[i] as number[], step.accumulate);
    reference.step(step.grads.map(() => null));
  } else {
    reference.step(step.grads);
  }
}

/** Observed values of the reference, in the same shape as `observe`. */
export function observeReference(reference: ReferenceStableAdamW): ObservedValues {
  return {
    params: reference.params.map((p) => p.slice()),
    expAvg: reference.state.map((s) => s?.expAvg.slice() ?? null),
    expAvgSq: reference.state.map((s) => s?.expAvgSq.slice() ?? null),
  };
}
