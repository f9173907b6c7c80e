import type { Dtype } from '@stable-adamw/core';
import { compareValues, type ErrorMetrics, mergeMetrics, withinTolerance } from './compare.js';
import {
  type ConformanceTarget,
  type ObservedValues,
  type OptimizerHarness,
  observe,
  observeReference,
  referenceFor,
  referenceStep,
  replay,
} from './harness.js';
import type { ExpectedValues, Scenario, ScenarioTolerances } from './scenario.js';

export type Field = 'params' | 'expAvg' | 'expAvgSq';
export const FIELDS: readonly Field[] = ['params', 'expAvg', 'expAvgSq'];

/** Per-field metrics of observed values against expected ones (missing expectations are skipped). */
export function compareObserved(
  actual: ObservedValues,
  expected: ExpectedValues | ObservedValues,
  tolerance: ScenarioTolerances,
  dtype: Dtype,
): Partial<Record<Field, ErrorMetrics>> {
  const result: Partial<Record<Field, ErrorMetrics>> = {};
  for (const field of FIELDS) {
    const want = expected[field];
    if (!want) continue;
    result[field] = mergeMetrics(
      want.map((e, i) => {
        const a = actual[field][i];
        if (e === null || a === null || a === undefined) {
          const mismatch = (e === null) !== (a === null || a === undefined);
          return {
            maxAbsError: mismatch ? Infinity : 0,
            maxRelError: 0,
            maxUlp: 0,
            outside: mismatch ? 1 : 0,
            count: 1,
            worst: -1,
          };
        }
        return compareValues(a, e, tolerance[field], dtype);
      }),
    );
  }
  return result;
}

/** Why observed values are outside tolerance, or undefined when they are within it. */
export function describeMismatch(
  label: string,
  metrics: Partial<Record<Field, ErrorMetrics>>,
  tolerance: ScenarioTolerances,
): string | undefined {
  for (const field of FIELDS) {
    const m = metrics[field];
    if (m && !withinTolerance(m, tolerance[field])) {
      return (
        `${label}: ${field} has ${m.outside} of ${m.count} elements outside ${JSON.stringify(tolerance[field])} ` +
        `(max abs error ${m.maxAbsError}, max rel error ${m.maxRelError}, max ulp ${m.maxUlp})`
      );
    }
  }
  return undefined;
}

/** How a backend did on one scenario: parameter errors over all compared steps, and the verdict. */
export interface ScenarioMeasurement {
  scenario: string;
  dtype: Dtype;
  /** What the backend was compared with: optimi's recorded values, hand-derived values, or the float64 reference. */
  against: 'optimi' | 'hand-derived' | 'reference';
  /** Every compared quantity (params and moments) within the scenario's tolerance at every compared step. */
  pass: boolean;
  /** Worst parameter errors over every compared step. */
  maxAbsError: number;
  maxRelError: number;
  maxUlp: number;
  /** The first mismatch, when `pass` is false. */
  failure?: string;
  /** Parameter errors after each compared step (1-based `step`), to show error growth. */
  trace: StepErrors[];
  /** The backend's parameters after the last step (scenario order), for cross-backend agreement. */
  finalParams: Float64Array[];
}

/** Parameter errors after one step. */
export interface StepErrors {
  step: number;
  maxAbsError: number;
  maxRelError: number;
  maxUlp: number;
}

/** Hooks into `measureScenario`. */
export interface MeasureOptions {
  /** Called with what was observed and what it was compared with, at every compared step. */
  onCompared?(observed: ObservedValues, expected: ExpectedValues | ObservedValues): void;
}

/**
 * Replays a scenario on a fresh harness and compares it, after every step, with the scenario's
 * recorded values (`against: 'expected'`, at steps that have them) or the float64 reference.
 */
export async function measureScenario(
  target: ConformanceTarget,
  scenario: Scenario,
  against: 'expected' | 'reference',
  { onCompared }: MeasureOptions = {},
): Promise<ScenarioMeasurement> {
  const reference = against === 'reference' ? referenceFor(scenario) : undefined;
  const params: ErrorMetrics[] = [];
  const trace: StepErrors[] = [];
  let finalParams: Float64Array[] = [];
  let failure: string | undefined;
  const harness: OptimizerHarness = await target.create(scenario);
  try {
    await replay(harness, scenario, async (t) => {
      let expected: ExpectedValues | ObservedValues | undefined = scenario.steps[t]?.expected;
      if (reference) {
        referenceStep(reference, scenario, t);
        expected = observeReference(reference);
      }
      if (!expected) return;
      const observed = await observe(harness, scenario);
      onCompared?.(observed, expected);
      const metrics = compareObserved(observed, expected, scenario.tolerance, scenario.dtype);
      if (metrics.params) {
        params.push(metrics.params);
        const { maxAbsError, maxRelError, maxUlp } = metrics.params;
        trace.push({ step: t + 1, maxAbsError, maxRelError, maxUlp });
      }
      const suffix = reference ? ' vs reference' : '';
      failure ??= describeMismatch(`${scenario.name} step ${t + 1}${suffix}`, metrics, scenario.tolerance);
    });
    finalParams = await harness.readParams();
  } finally {
    await harness.dispose();
  }
  const merged = mergeMetrics(params);
  return {
    scenario: scenario.name,
    dtype: scenario.dtype,
    against: reference ? 'reference' : scenario.source === 'hand-derived' ? 'hand-derived' : 'optimi',
    pass: failure === undefined && params.length > 0,
    maxAbsError: merged.maxAbsError,
    maxRelError: merged.maxRelError,
    maxUlp: merged.maxUlp,
    trace,
    finalParams,
    ...(failure === undefined ? (params.length > 0 ? {} : { failure: `${scenario.name}: nothing was compared` }) : { failure }),
  };
}
