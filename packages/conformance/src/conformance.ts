import { type Dtype, StableAdamWError, type StateDict } from '@stable-adamw/core';
import { gradientReleaseScenarios, handCheckedScenario, standardScenarios } from './generated.js';
import { goldenEntries, loadGoldenScenario } from './golden.js';
import {
  type ConformanceTarget,
  type ObservedValues,
  type OptimizerHarness,
  observe,
  observeReference,
  referenceFor,
  referenceStep,
  replay,
  runStep,
} from './harness.js';
import { compareObserved, describeMismatch, measureScenario } from './measure.js';
import { safetyCases } from './safety.js';
import type { ExpectedValues, Scenario, ScenarioTolerances } from './scenario.js';

/** One named check; `run` rejects with a descriptive error when the adapter does not conform. */
export interface ConformanceCase {
  name: string;
  run(): Promise<void>;
}

function assertClose(
  label: string,
  actual: ObservedValues,
  expected: ExpectedValues | ObservedValues,
  tolerance: ScenarioTolerances,
  dtype: Dtype,
): void {
  const mismatch = describeMismatch(label, compareObserved(actual, expected, tolerance, dtype), tolerance);
  if (mismatch) throw new Error(mismatch);
}

function assertIdentical(label: string, actual: ObservedValues, expected: ObservedValues, dtype: Dtype): void {
  const exact = { kind: 'elementwise', atol: 0, rtol: 0 } as const;
  assertClose(label, actual, expected, { params: exact, expAvg: exact, expAvgSq: exact }, dtype);
}

async function withHarness(
  target: ConformanceTarget,
  scenario: Scenario,
  fn: (h: OptimizerHarness) => Promise<void>,
): Promise<void> {
  const harness = await target.create(scenario);
  try {
    await fn(harness);
  } finally {
    await harness.dispose();
  }
}

/** Replays a scenario and checks every compared step (recorded values, or the float64 reference). */
async function check(target: ConformanceTarget, scenario: Scenario, against: 'expected' | 'reference'): Promise<void> {
  const measurement = await measureScenario(target, scenario, against);
  if (!measurement.pass) throw new Error(measurement.failure);
}

/** Mean |x − shadow| / mean |shadow − init| over every element at the last step. */
function driftVsShadow(params: Float64Array[], shadow: number[][], init: number[][]): number {
  let drift = 0;
  let movement = 0;
  params.forEach((p, i) => {
    p.forEach((x, j) => {
      const s = (shadow[i] as number[])[j] as number;
      drift += Math.abs(x - s);
      movement += Math.abs(s - ((init[i] as number[])[j] as number));
    });
  });
  return drift / movement;
}

async function finalParams(target: ConformanceTarget, scenario: Scenario): Promise<Float64Array[]> {
  let params: Float64Array[] = [];
  await withHarness(target, scenario, async (harness) => {
    await replay(harness, scenario, () => undefined);
    params = await harness.readParams();
  });
  return params;
}

/** Kahan summation in bfloat16 must track the float32 run far better than plain bfloat16 updates. */
async function checkKahanTracksShadow(target: ConformanceTarget): Promise<void> {
  const shadow = await loadGoldenScenario('bf16-f32-shadow');
  const expected = shadow.steps.at(-1)?.expected?.params as number[][];
  const init = shadow.params.map((p) => p.init);
  const withKahan = driftVsShadow(await finalParams(target, await loadGoldenScenario('bf16-kahan')), expected, init);
  const withoutKahan = driftVsShadow(await finalParams(target, await loadGoldenScenario('bf16-no-kahan')), expected, init);
  // optimi: 0.62 with Kahan; without it almost nothing moves (drift ≈ 1).
  if (!(withKahan < 0.75 && withoutKahan > 0.9)) {
    throw new Error(`bf16 drift vs f32 shadow: with Kahan ${withKahan} (want < 0.75), without ${withoutKahan} (want > 0.9)`);
  }
}

/** stateDict → JSON → a fresh optimizer over the current params continues bit-identically. */
async function checkStateDictRoundTrip(target: ConformanceTarget, scenario: Scenario): Promise<void> {
  const half = Math.floor(scenario.steps.length / 2);
  await withHarness(target, scenario, async (original) => {
    await replay(original, scenario, () => undefined, half);
    const saved = JSON.parse(JSON.stringify(await original.optimizer.stateDict())) as StateDict;
    const current = await original.readParams();
    const resumedSpec = {
      ...scenario,
      params: scenario.params.map((p, i) => ({ ...p, init: Array.from(current[i] as Float64Array) })),
    };
    await withHarness(target, resumedSpec, async (resumed) => {
      await resumed.optimizer.loadStateDict(saved);
      for (let t = half; t < scenario.steps.length; t++) {
        await runStep(original, scenario, t);
        await runStep(resumed, scenario, t);
        assertIdentical(
          `${scenario.name} step ${t + 1} after reload`,
          await observe(resumed, scenario),
          await observe(original, scenario),
          scenario.dtype,
        );
      }
    });
  });
}

async function expectCode(code: string, action: () => unknown): Promise<void> {
  try {
    await action();
  } catch (error) {
    if (StableAdamWError.isInstance(error) && error.code === code) return;
    throw new Error(`expected a StableAdamWError with code ${code}, got ${String(error)}`);
  }
  throw new Error(`expected a StableAdamWError with code ${code}, but nothing was thrown`);
}

/** A rejected step or state dict leaves params and state exactly as they were, and training goes on. */
async function checkFailuresMutateNothing(target: ConformanceTarget, scenario: Scenario): Promise<void> {
  const reference = referenceFor(scenario);
  await withHarness(target, scenario, async (harness) => {
    for (let t = 0; t < 3; t++) {
      await runStep(harness, scenario, t);
      referenceStep(reference, scenario, t);
    }
    const before = await observe(harness, scenario);
    const saved = await harness.optimizer.stateDict();
    const group = harness.optimizer.paramGroups[0] as { lr: number };
    const lr = group.lr;
    group.lr = -1;
    await harness.setGrads(scenario.steps[3]?.grads ?? []);
    await expectCode('invalid_hyperparameter', () => harness.optimizer.step());
    group.lr = lr;
    assertIdentical('after a rejected step', await observe(harness, scenario), before, scenario.dtype);

    const [key, entry] = Object.entries(saved.state)[0] ?? [];
    if (key === undefined || entry === undefined) throw new Error('no state after 3 steps');
    const truncated = { ...saved, state: { ...saved.state, [key]: { ...entry, exp_avg: entry.exp_avg.slice(1) } } };
    await expectCode('invalid_state_dict', () => harness.optimizer.loadStateDict(truncated));
    assertIdentical('after a rejected loadStateDict', await observe(harness, scenario), before, scenario.dtype);

    for (let t = 3; t < scenario.steps.length; t++) {
      await runStep(harness, scenario, t);
      referenceStep(reference, scenario, t);
    }
    assertClose(
      'training after rejected calls',
      await observe(harness, scenario),
      observeReference(reference),
      scenario.tolerance,
      scenario.dtype,
    );
  });
}

/** Group counters advance on steps without gradients; a late first gradient uses β̂(t) with t > 1. */
async function checkStepCounting(target: ConformanceTarget, base: Scenario): Promise<void> {
  const scenario: Scenario = {
    ...base,
    name: `${base.name}-late-grads`,
    steps: base.steps.map((step, t) => (t < 2 ? { grads: step.grads.map(() => null) } : step)),
  };
  await check(target, scenario, 'reference');
  await withHarness(target, scenario, async (harness) => {
    await replay(harness, scenario, () => undefined, 2);
    const sd = await harness.optimizer.stateDict();
    if (Object.keys(sd.state).length !== 0 || sd.param_groups[0]?.step !== 2) {
      throw new Error(
        `after 2 gradient-free steps: ${Object.keys(sd.state).length} states, group step ${sd.param_groups[0]?.step}`,
      );
    }
  });
}

/** Per-parameter steps with every gradient present match normal steps of the float64 reference. */
async function checkReleaseMatchesNormal(target: ConformanceTarget, scenario: Scenario): Promise<void> {
  const normal: Scenario = { ...scenario, mode: 'normal' };
  const reference = referenceFor(normal);
  await withHarness(target, scenario, (harness) =>
    replay(harness, scenario, async (t) => {
      referenceStep(reference, normal, t);
      const label = `${scenario.name} step ${t + 1} vs normal-mode reference`;
      assertClose(label, await observe(harness, scenario), observeReference(reference), scenario.tolerance, scenario.dtype);
    }),
  );
}

/**
 * The conformance suite: every check an adapter must pass, independent of the test runner.
 * Use it as `for (const c of conformanceCases(target)) it(c.name, c.run)`.
 */
export function conformanceCases(target: ConformanceTarget, { steps = 20 }: { steps?: number } = {}): ConformanceCase[] {
  const supports = (dtype: Dtype) => target.dtypes.includes(dtype);
  const cases: ConformanceCase[] = [];
  for (const golden of goldenEntries.filter((e) => e.mode === 'normal' && supports(e.dtype))) {
    cases.push({ name: `golden ${golden.name}`, run: async () => check(target, await golden.load(), 'expected') });
  }
  for (const dtype of ['float64', 'float32'] as const) {
    if (!supports(dtype)) continue;
    for (const decoupled of [false, true]) {
      const scenario = handCheckedScenario(dtype, decoupled);
      cases.push({ name: scenario.name, run: () => check(target, scenario, 'expected') });
    }
  }
  if (supports('bfloat16')) {
    cases.push({ name: 'bfloat16 Kahan tracks the float32 shadow run', run: () => checkKahanTracksShadow(target) });
  }
  for (const dtype of target.dtypes) {
    const scenarios = standardScenarios(dtype, { steps });
    for (const scenario of scenarios) {
      cases.push({ name: `reference ${scenario.name}`, run: () => check(target, scenario, 'reference') });
    }
    const [mixed, spikes] = scenarios as [Scenario, Scenario];
    cases.push({ name: `step counting ${dtype}`, run: () => checkStepCounting(target, mixed) });
    cases.push({ name: `state dict round trip ${dtype}`, run: () => checkStateDictRoundTrip(target, spikes) });
    cases.push({ name: `failed calls mutate nothing ${dtype}`, run: () => checkFailuresMutateNothing(target, spikes) });
  }
  if (target.gradientRelease) cases.push(...gradientReleaseCases(target, steps));
  if (target.nonFinite) cases.push(...safetyCases(target, steps));
  return cases;
}

/** Gradient release and optimizer accumulation, for targets whose harness has `stepParam`. */
function gradientReleaseCases(target: ConformanceTarget, steps: number): ConformanceCase[] {
  const cases: ConformanceCase[] = [];
  for (const golden of goldenEntries.filter((e) => e.mode === 'gradient-release' && target.dtypes.includes(e.dtype))) {
    cases.push({ name: `golden ${golden.name}`, run: async () => check(target, await golden.load(), 'expected') });
  }
  for (const dtype of target.dtypes) {
    const [allGrads, skips, accumulation] = gradientReleaseScenarios(dtype, { steps }) as [Scenario, Scenario, Scenario];
    for (const scenario of [allGrads, skips, accumulation]) {
      cases.push({ name: `reference ${scenario.name}`, run: () => check(target, scenario, 'reference') });
    }
    cases.push({ name: `gradient release equals normal steps ${dtype}`, run: () => checkReleaseMatchesNormal(target, allGrads) });
    cases.push({ name: `state dict round trip gradient release ${dtype}`, run: () => checkStateDictRoundTrip(target, skips) });
  }
  return cases;
}
