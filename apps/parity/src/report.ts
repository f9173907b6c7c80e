import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { DTYPES, type Dtype } from '@stable-adamw/core';
import { referenceTolerances, type StepErrors, type Tolerance } from '@stable-adamw/core/testing';
import type { Agreement } from './agreement.js';
import type { RmsTrace } from './rms-traces.js';

export interface BackendStatus {
  id: string;
  available: boolean;
  /** Why the backend could not run here, and how to enable it. */
  reason?: string;
  /** Node or headless Chromium. */
  environment?: 'node' | 'chromium';
}

/** One backend × scenario row; errors are over parameters at every compared step (null: the run crashed). */
export interface ParityResult {
  backend: string;
  scenario: string;
  dtype?: Dtype;
  against: 'optimi' | 'hand-derived' | 'reference';
  pass: boolean;
  maxAbsError: number | null;
  maxRelError: number | null;
  maxUlp: number | null;
  /** The parameter tolerance the verdict used. */
  tolerance?: Tolerance;
  failure?: string;
  durationMs?: number;
  /** Parameter errors per compared step (at most ~200 points, evenly spaced). */
  trace?: StepErrors[];
}

export interface ParityReport {
  generatedAt: string;
  environment: { node: string; platform: string; chromium?: string };
  options: { steps: number; seed: number; quick: boolean; scenarioFilter: readonly string[] };
  /** Tolerances against the float64 reference per dtype (golden runs carry their own, in each row). */
  tolerances: Record<Dtype, { params: Tolerance; expAvg: Tolerance; expAvgSq: Tolerance; note: string }>;
  backends: BackendStatus[];
  results: ParityResult[];
  agreement: Agreement[];
  rmsTraces: RmsTrace[];
  summary: { passed: number; failed: number; unavailable: number };
}

function formatNumber(x: number | null): string {
  if (x === null) return '—';
  if (x === 0) return '0';
  return Number.isFinite(x) ? x.toExponential(2) : String(x);
}

function formatUlp(x: number | null): string {
  return x === null ? '—' : String(x);
}

/** The results as an aligned text table (also used, as Markdown, in the README). */
export function formatTable(report: ParityReport, { markdown = false } = {}): string {
  const header = ['backend', 'scenario', 'vs', 'max abs err', 'max rel err', 'max ulp', 'result'];
  const rows = report.results.map((r) => [
    r.backend,
    r.scenario,
    r.against,
    formatNumber(r.maxAbsError),
    formatNumber(r.maxRelError),
    formatUlp(r.maxUlp),
    r.pass ? 'pass' : 'FAIL',
  ]);
  if (markdown) {
    const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
    return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] as string).length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] as number))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** Unavailable backends (with how to enable them), failures and the totals, after the table. */
export function formatSummary(report: ParityReport): string {
  const out: string[] = [];
  for (const b of report.backends.filter((b) => !b.available)) out.push(`skipped: ${b.id} — ${b.reason}`);
  for (const r of report.results.filter((r) => !r.pass)) out.push(`failed: ${r.backend} ${r.scenario}: ${r.failure}`);
  const worst = [...report.agreement].sort((a, b) => b.maxUlp - a.maxUlp)[0];
  if (worst)
    out.push(
      `largest cross-backend difference: ${worst.a} vs ${worst.b} on ${worst.scenario}: ${worst.maxUlp} ulp (${formatNumber(worst.maxAbsDiff)})`,
    );
  const { passed, failed, unavailable } = report.summary;
  out.push(`${passed} passed, ${failed} failed, ${unavailable} backends unavailable`);
  return out.join('\n');
}

/** Writes a text file, creating its folder. */
export function writeText(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
}

/** The report as JSON (non-finite errors become null). */
export function reportJson(report: ParityReport): string {
  return `${JSON.stringify(report, (_key, value) => (typeof value === 'number' && !Number.isFinite(value) ? null : value), 2)}\n`;
}

function dtypeTolerances(): ParityReport['tolerances'] {
  const notes: Record<Dtype, string> = {
    float64: 'float64 against the float64 reference: |Δ| ≤ 1e-12 + 1e-10·|ref|',
    float32: "optimi's own test tolerance: |Δ| ≤ 1e-6 + 1e-5·|ref| per element",
    bfloat16: 'golden README rule: |Δ| ≤ max(2 ulp, 2·lr) for params and exp_avg (lr 1e-2 here), exp_avg_sq within 10 %',
    float16: 'golden README rule: |Δ| ≤ max(2 ulp, 2·lr) for params and exp_avg (lr 1e-2 here), exp_avg_sq within 10 %',
  };
  return Object.fromEntries(
    DTYPES.map((dtype) => [
      dtype,
      { ...referenceTolerances(dtype, dtype === 'float32' || dtype === 'float64' ? 1e-3 : 1e-2), note: notes[dtype] },
    ]),
  ) as ParityReport['tolerances'];
}

export function buildReport(
  run: { backends: BackendStatus[]; results: ParityResult[]; agreement: Agreement[]; rmsTraces: RmsTrace[]; chromium?: string },
  options: ParityReport['options'],
): ParityReport {
  const passed = run.results.filter((r) => r.pass).length;
  return {
    generatedAt: new Date().toISOString(),
    environment: {
      node: process.version,
      platform: `${process.platform}-${process.arch}`,
      ...(run.chromium ? { chromium: run.chromium } : {}),
    },
    options,
    tolerances: dtypeTolerances(),
    backends: run.backends,
    results: run.results,
    agreement: run.agreement,
    rmsTraces: run.rmsTraces,
    summary: { passed, failed: run.results.length - passed, unavailable: run.backends.filter((b) => !b.available).length },
  };
}
