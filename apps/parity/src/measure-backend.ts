import type { ConformanceTarget, StepErrors } from '@stable-adamw/conformance';
import type { Dtype } from '@stable-adamw/core';
import type { FinalParams } from './agreement.js';
import { measureWithLimit } from './measure-scenario.js';
import type { ParityResult } from './report.js';
import { type ScenarioOptions, scenariosFor } from './scenarios.js';

/** Runs in Node and in the browser bundle: no Node-only imports here. */
export interface MeasureOptions extends ScenarioOptions {
  /** Only scenarios whose name contains one of these (all when empty). */
  scenarioFilter: readonly string[];
}

/** Final params are kept for cross-backend agreement only up to this many elements per scenario. */
const AGREEMENT_LIMIT = 300_000;
const TRACE_POINTS = 200;

function thin(trace: StepErrors[]): StepErrors[] {
  if (trace.length <= TRACE_POINTS) return trace;
  const stride = trace.length / TRACE_POINTS;
  return Array.from(
    { length: TRACE_POINTS },
    (_, i) => trace[Math.min(trace.length - 1, Math.round((i + 1) * stride) - 1)] as StepErrors,
  );
}

/** Every matching scenario of `dtype` on one target, each reported as it finishes. */
export async function measureBackend(
  backend: string,
  dtype: Dtype,
  target: ConformanceTarget,
  options: MeasureOptions,
  onResult: (result: ParityResult) => void,
): Promise<FinalParams[]> {
  const finals: FinalParams[] = [];
  const selected = (await scenariosFor(dtype, options)).filter(
    ({ scenario }) => options.scenarioFilter.length === 0 || options.scenarioFilter.some((f) => scenario.name.includes(f)),
  );
  for (const { scenario, against } of selected) {
    const started = performance.now();
    const base = { backend, scenario: scenario.name, dtype, tolerance: scenario.tolerance.params };
    try {
      const m = await measureWithLimit(target, scenario, against);
      onResult({
        ...base,
        against: m.against,
        pass: m.pass,
        maxAbsError: m.maxAbsError,
        maxRelError: m.maxRelError,
        maxUlp: m.maxUlp,
        worstErrorOverLimit: m.worstErrorOverLimit,
        ...(m.failure ? { failure: m.failure } : {}),
        durationMs: Math.round(performance.now() - started),
        trace: thin(m.trace),
      });
      const elements = m.finalParams.reduce((n, p) => n + p.length, 0);
      if (elements <= AGREEMENT_LIMIT) finals.push({ backend, scenario: scenario.name, dtype, params: m.finalParams });
    } catch (error) {
      // A crash is a failure of that backend on that scenario, reported like any other.
      onResult({
        ...base,
        against: against === 'reference' ? 'reference' : 'optimi',
        pass: false,
        maxAbsError: null,
        maxRelError: null,
        maxUlp: null,
        worstErrorOverLimit: null,
        failure: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
        durationMs: Math.round(performance.now() - started),
      });
    }
  }
  return finals;
}
