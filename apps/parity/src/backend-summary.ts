import { formatTextTable } from '../../../tooling/text-table.js';
import { formatNumber, formatUlp, type ParityReport } from './report.js';

export const BACKEND_SUMMARY_HEADER = ['backend', 'where', 'scenarios passed', 'max abs err', 'max rel err', 'max ulp'];

/**
 * One row per backend (cells as in `BACKEND_SUMMARY_HEADER`): where it ran, scenarios passed and the
 * worst errors over them; a skipped backend says so, with its reason when `reasons` is set.
 */
export function backendSummaryRows(report: ParityReport, { reasons = true } = {}): string[][] {
  return report.backends.map((b) => {
    if (!b.available) return [b.id, b.environment ?? '', reasons ? `skipped: ${b.reason ?? ''}` : 'skipped', '', '', ''];
    const mine = report.results.filter((r) => r.backend === b.id);
    const worst = (key: 'maxAbsError' | 'maxRelError' | 'maxUlp') =>
      Math.max(...mine.map((r) => r[key] ?? Number.POSITIVE_INFINITY));
    return [
      b.id,
      b.environment ?? '',
      `${mine.filter((r) => r.pass).length}/${mine.length}`,
      formatNumber(worst('maxAbsError')),
      formatNumber(worst('maxRelError')),
      formatUlp(worst('maxUlp')),
    ];
  });
}

/**
 * The per-backend table: Markdown with skip reasons (the root README's table), or aligned text
 * for the terminal with `markdown: false` (the CLI prints the reasons after it).
 */
export function formatBackendSummary(report: ParityReport, { markdown = true } = {}): string {
  return formatTextTable(BACKEND_SUMMARY_HEADER, backendSummaryRows(report, { reasons: markdown }), markdown);
}

/** Each backend's worst error ÷ tolerance over its results (Infinity for a crash or an infinite ratio). */
export function worstOverLimitByBackend(report: ParityReport): Map<string, number> {
  const worst = new Map<string, number>();
  for (const r of report.results) {
    worst.set(r.backend, Math.max(worst.get(r.backend) ?? 0, r.worstErrorOverLimit ?? Number.POSITIVE_INFINITY));
  }
  return worst;
}
