import { type Agreement, type FinalParams, pairwiseAgreement } from './agreement.js';
import type { ParityBackend } from './backends.js';
import { type MeasureOptions, measureBackend } from './measure-backend.js';
import type { BackendStatus, ParityResult } from './report.js';
import { type RmsTrace, rmsTraces } from './rms-traces.js';
import { scenariosFor } from './scenarios.js';

export interface RunOptions extends MeasureOptions {
  /** Called after each scenario, e.g. to print progress. */
  onResult?: (result: ParityResult) => void;
}

/** What a group of backends (this process, or a browser) produced. */
export interface BackendRun {
  backends: BackendStatus[];
  results: ParityResult[];
  finals: FinalParams[];
}

/** Runs every matching scenario on each in-process backend; a backend that cannot open is reported, not fatal. */
export async function runBackends(backends: readonly ParityBackend[], options: RunOptions): Promise<BackendRun> {
  const run: BackendRun = { backends: [], results: [], finals: [] };
  for (const backend of backends) {
    let target: Awaited<ReturnType<ParityBackend['open']>>;
    try {
      target = await backend.open();
    } catch (error) {
      run.backends.push({
        id: backend.id,
        available: false,
        environment: 'node',
        reason: error instanceof Error ? error.message : String(error),
        ...(backend.optional ? { optional: true } : {}),
      });
      continue;
    }
    run.backends.push({ id: backend.id, available: true, environment: 'node' });
    try {
      const finals = await measureBackend(backend.id, backend.dtype, target, options, (result) => {
        run.results.push(result);
        options.onResult?.(result);
      });
      run.finals.push(...finals);
    } finally {
      await backend.close?.();
    }
  }
  return run;
}

/** Scenarios whose clipping statistic is worth plotting: spikes, long runs, optimi's clipping run. */
const TRACED = ['spikes-float32', 'drift-1000-float32', 'golden/clipping-spikes-f32', 'decoupled-schedule-float32'];

/** Merges runs and adds cross-backend agreement and RMS traces of the float32 scenarios that ran. */
export async function combineRuns(
  runs: readonly BackendRun[],
  options: MeasureOptions,
): Promise<BackendRun & { agreement: Agreement[]; rmsTraces: RmsTrace[] }> {
  const backends = runs.flatMap((r) => r.backends);
  const results = runs.flatMap((r) => r.results);
  const finals = runs.flatMap((r) => r.finals);
  const ran = new Set(results.map((r) => r.scenario));
  const traces = (await scenariosFor('float32', options))
    .filter(({ scenario }) => TRACED.includes(scenario.name) && ran.has(scenario.name))
    .flatMap(({ scenario }) => rmsTraces(scenario));
  return { backends, results, finals, agreement: pairwiseAgreement(finals), rmsTraces: traces };
}
