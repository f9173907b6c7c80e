import { measureScenario } from '@stable-adamw/core/testing';
import type { ParityBackend } from './backends.js';
import type { BackendStatus, ParityResult } from './report.js';
import { type ScenarioOptions, scenariosFor } from './scenarios.js';

export interface RunOptions extends ScenarioOptions {
  /** Only scenarios whose name contains one of these (all when empty). */
  scenarioFilter: readonly string[];
  /** Called after each scenario, e.g. to print progress. */
  onResult?: (result: ParityResult) => void;
}

/** Runs every matching scenario on each backend; a backend that cannot open is reported, not fatal. */
export async function runParity(
  backends: readonly ParityBackend[],
  options: RunOptions,
): Promise<{ backends: BackendStatus[]; results: ParityResult[] }> {
  const statuses: BackendStatus[] = [];
  const results: ParityResult[] = [];
  for (const backend of backends) {
    let target: Awaited<ReturnType<ParityBackend['open']>>;
    try {
      target = await backend.open();
    } catch (error) {
      statuses.push({ id: backend.id, available: false, reason: error instanceof Error ? error.message : String(error) });
      continue;
    }
    statuses.push({ id: backend.id, available: true });
    try {
      const selected = scenariosFor(backend.dtype, options).filter(
        ({ scenario }) => options.scenarioFilter.length === 0 || options.scenarioFilter.some((f) => scenario.name.includes(f)),
      );
      for (const { scenario, against } of selected) {
        const result = await measure(backend.id, () => measureScenario(target, scenario, against), scenario.name);
        results.push(result);
        options.onResult?.(result);
      }
    } finally {
      await backend.close?.();
    }
  }
  return { backends: statuses, results };
}

async function measure(backend: string, run: () => ReturnType<typeof measureScenario>, scenario: string): Promise<ParityResult> {
  try {
    const m = await run();
    return {
      backend,
      scenario,
      against: m.against,
      pass: m.pass,
      maxAbsError: m.maxAbsError,
      maxRelError: m.maxRelError,
      maxUlp: m.maxUlp,
      ...(m.failure ? { failure: m.failure } : {}),
    };
  } catch (error) {
    // A crash is a failure of that backend on that scenario, reported like any other.
    const failure = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    return { backend, scenario, against: 'reference', pass: false, maxAbsError: null, maxRelError: null, maxUlp: null, failure };
  }
}
