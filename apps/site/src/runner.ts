import type { Dtype } from '@stable-adamw/core';
import type { BenchRow } from '../../bench/src/row.js';
import { runSubjects } from '../../bench/src/run.js';
import type { Shape } from '../../bench/src/shapes.js';
import type { FinalParams } from '../../parity/src/agreement.js';
import { measureBackend } from '../../parity/src/measure-backend.js';
import type { BackendStatus, ParityResult } from '../../parity/src/report.js';
import type { CatalogEntry } from './catalog.js';
import type { BackendRuntime } from './subjects.js';

/** What one run measures. */
export interface RunPlan {
  /** Every catalog backend; those with `missing` set are reported unavailable without being tried. */
  backends: { entry: CatalogEntry; missing?: string; runtime: () => BackendRuntime }[];
  shape: Shape;
  warmup: number;
  steps: number;
  /** Golden scenarios run per storage dtype (a backend runs those of the dtypes it has). */
  scenarios: Partial<Record<Dtype, readonly string[]>>;
}

/** What a run hands back as it goes. */
export interface RunEvents {
  progress(done: number, total: number, doing: string): void;
  status(status: BackendStatus): void;
  parity(result: ParityResult): void;
  row(row: BenchRow): void;
}

export interface RunOutcome {
  backends: BackendStatus[];
  results: ParityResult[];
  rows: BenchRow[];
  finals: FinalParams[];
  cancelled: boolean;
}

// Seeds and steps matter only for seeded scenarios; the golden ones carry their own steps.
export const PARITY_OPTIONS = { steps: 10, seed: 1, quick: true } as const;

class Cancelled extends Error {}

const message = (error: unknown) => (error instanceof Error ? error.message : String(error));

/**
 * Runs the plan backend by backend: each parity scenario against optimi's recorded trajectory, then
 * the timed step on the shape. `signal` is checked before every scenario and timed row, so Cancel
 * stops at the next one (the backend in use is closed first); the outcome holds what finished.
 */
export async function runPlan(plan: RunPlan, events: RunEvents, signal: AbortSignal): Promise<RunOutcome> {
  const out: RunOutcome = { backends: [], results: [], rows: [], finals: [], cancelled: false };
  const runnable = plan.backends.filter((b) => !b.missing).map((b) => ({ ...b, runtime: b.runtime() }));
  const scenariosOf = (dtype: Dtype) => plan.scenarios[dtype] ?? [];
  const total = runnable.reduce((n, b) => n + 1 + b.runtime.parity.reduce((m, p) => m + scenariosOf(p.dtype).length, 0), 0);
  let done = 0;
  const step = (doing: string) => {
    if (signal.aborted) throw new Cancelled();
    events.progress(done++, total, doing);
  };
  const report = (status: BackendStatus) => {
    out.backends.push(status);
    events.status(status);
  };
  for (const { entry, missing } of plan.backends.filter((b) => b.missing)) {
    report({ id: entry.id, available: false, environment: 'chromium', reason: missing as string });
  }
  try {
    for (const { entry, runtime } of runnable) {
      let opened = true;
      for (const backend of runtime.parity) {
        const names = scenariosOf(backend.dtype);
        if (names.length === 0) continue;
        let target: Awaited<ReturnType<typeof backend.open>>;
        try {
          target = await backend.open();
        } catch (error) {
          report({ id: entry.id, available: false, environment: 'chromium', reason: message(error) });
          opened = false;
          break;
        }
        try {
          for (const name of names) {
            step(`${entry.id}: parity ${name} (${backend.dtype})`);
            const finals = await measureBackend(
              entry.id,
              backend.dtype,
              target,
              { ...PARITY_OPTIONS, scenarioFilter: [name] },
              (result) => {
                out.results.push(result);
                events.parity(result);
              },
            );
            out.finals.push(...finals);
          }
        } finally {
          await backend.close?.();
        }
      }
      if (!opened) continue;
      report({ id: entry.id, available: true, environment: 'chromium' });
      step(`${entry.id}: timed step`);
      const [row] = await runSubjects([runtime.subject], {
        shapes: [plan.shape],
        dtypes: ['float32'],
        warmup: plan.warmup,
        steps: plan.steps,
        environment: 'chromium',
        hostMemory: () => ({}),
      });
      if (row) {
        out.rows.push(row);
        events.row(row);
      }
    }
    events.progress(total, total, 'done');
  } catch (error) {
    if (!(error instanceof Cancelled)) throw error;
    out.cancelled = true;
  }
  return out;
}
