import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export interface BackendStatus {
  id: string;
  available: boolean;
  /** Why the backend could not run here. */
  reason?: string;
}

/** One backend × scenario row; errors are over parameters at every compared step (null: the run crashed). */
export interface ParityResult {
  backend: string;
  scenario: string;
  against: 'optimi' | 'hand-derived' | 'reference';
  pass: boolean;
  maxAbsError: number | null;
  maxRelError: number | null;
  maxUlp: number | null;
  failure?: string;
}

export interface ParityReport {
  generatedAt: string;
  environment: { node: string; platform: string };
  options: { steps: number; seed: number; scenarioFilter: readonly string[] };
  backends: BackendStatus[];
  results: ParityResult[];
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

/** The report as an aligned text table, then unavailable backends and failures. */
export function formatTable(report: ParityReport): string {
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
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] as string).length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] as number))
      .join('  ')
      .trimEnd();
  const out = [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
  for (const b of report.backends.filter((b) => !b.available)) out.push(`unavailable: ${b.id} (${b.reason})`);
  for (const r of report.results.filter((r) => !r.pass)) out.push(`failed: ${r.backend} ${r.scenario}: ${r.failure}`);
  const { passed, failed, unavailable } = report.summary;
  out.push(`${passed} passed, ${failed} failed, ${unavailable} backends unavailable`);
  return out.join('\n');
}

/** Writes the report as JSON (non-finite errors become null). */
export function writeReport(path: string, report: ParityReport): void {
  mkdirSync(dirname(path), { recursive: true });
  const json = JSON.stringify(report, (_key, value) => (typeof value === 'number' && !Number.isFinite(value) ? null : value), 2);
  writeFileSync(path, `${json}\n`);
}

export function buildReport(
  run: { backends: BackendStatus[]; results: ParityResult[] },
  options: ParityReport['options'],
): ParityReport {
  const passed = run.results.filter((r) => r.pass).length;
  return {
    generatedAt: new Date().toISOString(),
    environment: { node: process.version, platform: `${process.platform}-${process.arch}` },
    options,
    backends: run.backends,
    results: run.results,
    summary: { passed, failed: run.results.length - passed, unavailable: run.backends.filter((b) => !b.available).length },
  };
}
