import {
  type ConformanceTarget,
  compareObserved,
  describeMismatch,
  type ErrorMetrics,
  type ExpectedValues,
  mergeMetrics,
  type ObservedValues,
  observe,
  observeReference,
  referenceFor,
  referenceStep,
  replay,
  type Scenario,
  type ScenarioMeasurement,
  type StepErrors,
} from '@stable-adamw/conformance';
import { observedOverLimit } from './limit-ratio.js';

/** A scenario measurement plus the worst error ÷ tolerance over every compared element. */
export interface ParityMeasurement extends ScenarioMeasurement {
  /** Max over every compared element (params and moments, every compared step) of `errorOverLimit`. */
  worstErrorOverLimit: number;
}

/**
 * conformance's `measureScenario`, composed from the same public steps, also folding each compared
 * step into `worstErrorOverLimit`: replays the scenario on a fresh harness and compares it after
 * every step with its recorded values (`against: 'expected'`) or the float64 reference.
 */
export async function measureWithLimit(
  target: ConformanceTarget,
  scenario: Scenario,
  against: 'expected' | 'reference',
): Promise<ParityMeasurement> {
  const reference = against === 'reference' ? referenceFor(scenario) : undefined;
  const params: ErrorMetrics[] = [];
  const trace: StepErrors[] = [];
  let worstErrorOverLimit = 0;
  let failure: string | undefined;
  let finalParams: Float64Array[] = [];
  const harness = await target.create(scenario);
  try {
    await replay(harness, scenario, async (t) => {
      let expected: ExpectedValues | ObservedValues | undefined = scenario.steps[t]?.expected;
      if (reference) {
        referenceStep(reference, scenario, t);
        expected = observeReference(reference);
      }
      if (!expected) return;
      const observed = await observe(harness, scenario);
      const metrics = compareObserved(observed, expected, scenario.tolerance, scenario.dtype);
      worstErrorOverLimit = Math.max(
        worstErrorOverLimit,
        observedOverLimit(observed, expected, scenario.tolerance, scenario.dtype),
      );
      if (metrics.params) {
        params.push(metrics.params);
        const { maxAbsError, maxRelError, maxUlp } = metrics.params;
        trace.push({ step: t + 1, maxAbsError, maxRelError, maxUlp });
      }
      failure ??= describeMismatch(
        `${scenario.name} step ${t + 1}${reference ? ' vs reference' : ''}`,
        metrics,
        scenario.tolerance,
      );
    });
    finalParams = await harness.readParams();
  } finally {
    await harness.dispose();
  }
  if (params.length === 0) failure ??= `${scenario.name}: nothing was compared`;
  const merged = mergeMetrics(params);
  return {
    scenario: scenario.name,
    dtype: scenario.dtype,
    against: reference ? 'reference' : scenario.source === 'hand-derived' ? 'hand-derived' : 'optimi',
    pass: failure === undefined,
    maxAbsError: merged.maxAbsError,
    maxRelError: merged.maxRelError,
    maxUlp: merged.maxUlp,
    worstErrorOverLimit,
    trace,
    finalParams,
    ...(failure === undefined ? {} : { failure }),
  };
}
