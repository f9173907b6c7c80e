import { referenceTolerances } from '@stable-adamw/conformance';
import { DTYPES } from '@stable-adamw/core';
import { type BenchReport, buildReport } from '../../bench/src/report.js';
import type { BenchRow } from '../../bench/src/row.js';
import type { Shape } from '../../bench/src/shapes.js';
import { pairwiseAgreement } from '../../parity/src/agreement.js';
import type { ParityReport } from '../../parity/src/report.js';
import type { Detection } from './detect.js';
import { PARITY_OPTIONS, type RunOutcome, type RunPlan } from './runner.js';

const chromiumVersion = (ua: string) => /Chrom(?:e|ium)\/([\d.]+)/.exec(ua)?.[1];

/** bench.json as the bench CLI writes it, from this page's rows (no bandwidth run, no Node facts). */
export function benchReport(
  rows: readonly BenchRow[],
  plan: Pick<RunPlan, 'warmup' | 'steps'>,
  shape: Shape,
  d: Detection,
): BenchReport {
  const version = chromiumVersion(d.userAgent);
  return buildReport({
    rows,
    bandwidth: [],
    shapes: [shape],
    machine: {
      cpu: `browser-reported: ${d.hardwareConcurrency} logical cores`,
      cores: d.hardwareConcurrency,
      // Browsers do not tell a page the machine's memory (only a coarse navigator.deviceMemory).
      memoryBytes: 0,
      platform: d.userAgent,
      node: 'none (measured in the page)',
      ...(version ? { chromium: `Chromium ${version}` } : {}),
    },
    options: { warmup: plan.warmup, steps: plan.steps, quick: false },
    notes: [
      `Measured in the visitor's browser by the stable-adamw site (${shape.description}); no memory-bandwidth bound is measured in a page.`,
    ],
  });
}

/** report.json as the parity CLI writes it, from this page's golden-scenario results. */
export function parityReport(outcome: RunOutcome, plan: Pick<RunPlan, 'scenarios'>, d: Detection): ParityReport {
  const passed = outcome.results.filter((r) => r.pass).length;
  const version = chromiumVersion(d.userAgent);
  const note = "not used here: the page runs optimi's golden scenarios only, and each result carries its own tolerance";
  return {
    generatedAt: new Date().toISOString(),
    environment: {
      node: 'none (measured in the page)',
      platform: d.userAgent,
      ...(version ? { chromium: `Chromium ${version}` } : {}),
    },
    options: { ...PARITY_OPTIONS, scenarioFilter: Object.values(plan.scenarios).flat() },
    tolerances: Object.fromEntries(
      DTYPES.map((dtype) => [
        dtype,
        { ...referenceTolerances(dtype, dtype === 'float32' || dtype === 'float64' ? 1e-3 : 1e-2), note },
      ]),
    ) as ParityReport['tolerances'],
    backends: outcome.backends,
    results: outcome.results,
    agreement: pairwiseAgreement(outcome.finals),
    rmsTraces: [],
    summary: {
      passed,
      failed: outcome.results.length - passed,
      unavailable: outcome.backends.filter((b) => !b.available).length,
      optionalSkipped: 0,
    },
  };
}
