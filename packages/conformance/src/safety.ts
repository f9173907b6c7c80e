import { type Dtype, DynamicLossScaler, StableAdamWError } from '@stable-adamw/core';
import { standardScenarios } from './generated.js';
import {
  type ConformanceTarget,
  type ObservedValues,
  type OptimizerHarness,
  observe,
  observeReference,
  referenceFor,
  referenceStep,
  runStep,
  type SafetyPolicy,
} from './harness.js';
import { compareObserved, describeMismatch } from './measure.js';
import type { Scenario, ScenarioParam, ScenarioTolerances } from './scenario.js';

// Training-safety checks for targets that declare `nonFinite`: skipped and refused non-finite
// steps change nothing, and a loss scaler's unscale folded into the kernels matches the float64
// reference on the unscaled gradients.

/** The case type of `conformanceCases`, repeated here to keep this module free of import cycles. */
interface SafetyCase {
  name: string;
  run(): Promise<void>;
}

function assertClose(
  label: string,
  actual: ObservedValues,
  expected: ObservedValues,
  tolerance: ScenarioTolerances,
  dtype: Dtype,
) {
  const mismatch = describeMismatch(label, compareObserved(actual, expected, tolerance, dtype), tolerance);
  if (mismatch) throw new Error(mismatch);
}

async function withHarness(target: ConformanceTarget, scenario: Scenario, fn: (h: OptimizerHarness) => Promise<void>) {
  const harness = await target.create(scenario);
  try {
    await fn(harness);
  } finally {
    await harness.dispose();
  }
}

/** The gradients of step `t` with one element of the last param replaced by `bad`. */
function poisoned(scenario: Scenario, t: number, bad: number): (number[] | null)[] {
  const grads = (scenario.steps[t]?.grads ?? []).map((g) => (g ? [...g] : null));
  const last = grads.length - 1;
  const poisonedGrad = grads[last] ?? (scenario.params[last] as ScenarioParam).init.map(() => 0);
  poisonedGrad[0] = bad;
  grads[last] = poisonedGrad;
  return grads;
}

/**
 * Between clean steps, steps whose gradients hold NaN, +Inf or −Inf: under 'skip' each leaves
 * params and moments bit-identical, under 'throw' each is refused with `non_finite_gradient`;
 * either way training then follows the reference that never saw them.
 */
async function checkNonFinite(target: ConformanceTarget, base: Scenario, policy: SafetyPolicy): Promise<void> {
  const scenario: Scenario = { ...base, options: { ...base.options, nonFinite: policy } };
  const reference = referenceFor(base);
  const exact = { kind: 'elementwise', atol: 0, rtol: 0 } as const;
  const identical = { params: exact, expAvg: exact, expAvgSq: exact };
  const bads = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY];
  await withHarness(target, scenario, async (harness) => {
    for (let t = 0; t < scenario.steps.length; t++) {
      const bad = bads[t % 4];
      if (bad !== undefined && t > 0) {
        const before = await observe(harness, scenario);
        await harness.setGrads(poisoned(scenario, t, bad));
        try {
          await harness.optimizer.step();
          if (policy === 'throw') throw new Error(`step with a ${bad} gradient did not throw`);
        } catch (error) {
          if (policy === 'skip' || !(StableAdamWError.isInstance(error) && error.code === 'non_finite_gradient')) throw error;
        }
        assertClose(
          `${scenario.name} after a ${bad} gradient (${policy})`,
          await observe(harness, scenario),
          before,
          identical,
          scenario.dtype,
        );
      }
      await runStep(harness, scenario, t);
      referenceStep(reference, base, t);
    }
    assertClose(
      `${scenario.name} after skipped steps`,
      await observe(harness, scenario),
      observeReference(reference),
      scenario.tolerance,
      scenario.dtype,
    );
  });
}

/** Gradients × 1024 with a loss scaler of scale 1024 match the reference on the unscaled gradients. */
async function checkLossScaling(target: ConformanceTarget, base: Scenario): Promise<void> {
  const scale = 1024;
  const scenario: Scenario = {
    ...base,
    options: { ...base.options, lossScaler: new DynamicLossScaler({ initScale: scale, growthInterval: 1e9 }) },
    steps: base.steps.map((step) => ({ ...step, grads: step.grads.map((g) => g?.map((x) => x * scale) ?? null) })),
  };
  const reference = referenceFor(base);
  await withHarness(target, scenario, async (harness) => {
    for (let t = 0; t < scenario.steps.length; t++) {
      await runStep(harness, scenario, t);
      referenceStep(reference, base, t);
      const label = `${scenario.name} step ${t + 1} with loss scale ${scale}`;
      assertClose(label, await observe(harness, scenario), observeReference(reference), scenario.tolerance, scenario.dtype);
    }
  });
}

/** The training-safety cases of a target that declares `nonFinite` (a loss scaler needs 'skip'). */
export function safetyCases(target: ConformanceTarget, steps: number): SafetyCase[] {
  const cases: SafetyCase[] = [];
  const policies: readonly SafetyPolicy[] = target.nonFinite === true ? ['skip', 'throw'] : target.nonFinite || [];
  for (const dtype of target.dtypes) {
    const [mixed] = standardScenarios(dtype, { steps: Math.min(steps, 12) }) as [Scenario];
    for (const policy of policies) {
      cases.push({ name: `non-finite gradients (${policy}) ${dtype}`, run: () => checkNonFinite(target, mixed, policy) });
    }
    if (policies.includes('skip')) {
      cases.push({ name: `loss scaling folded into the step ${dtype}`, run: () => checkLossScaling(target, mixed) });
    }
  }
  return cases;
}
