import type { ReportRow } from '../../bench/src/report.js';
import type { BackendStatus, ParityResult } from '../../parity/src/report.js';
import type { CatalogEntry } from './catalog.js';
import type { BackendOutcome } from './recommend.js';

/** One table row: a backend's parity and speed on this machine. */
export interface BackendSummary extends BackendOutcome {
  runsOn: string;
  /** Not tried or could not open: why. */
  unavailable?: string;
  /** The timed row's status and, when not ok, why. */
  timed?: { status: ReportRow['status']; reason?: string; detail?: string; note?: string };
  failures: string[];
}

/** Joins the run's statuses, parity results and bench rows per catalog backend (catalog order). */
export function summarize(
  entries: readonly { entry: CatalogEntry; runsOn: string }[],
  statuses: readonly BackendStatus[],
  results: readonly ParityResult[],
  rows: readonly ReportRow[],
): BackendSummary[] {
  return entries.map(({ entry, runsOn }) => {
    const status = statuses.find((s) => s.id === entry.id);
    const mine = results.filter((r) => r.backend === entry.id);
    const row = rows.find((r) => r.subject === entry.id);
    return {
      id: entry.id,
      pkg: entry.pkg,
      install: entry.install,
      runsOn,
      parity: { passed: mine.filter((r) => r.pass).length, total: mine.length },
      failures: mine.filter((r) => !r.pass).map((r) => `${r.scenario}: ${r.failure ?? 'outside tolerance'}`),
      ...(status && !status.available ? { unavailable: status.reason ?? 'unavailable' } : {}),
      ...(row?.paramsPerSec === undefined ? {} : { paramsPerSec: row.paramsPerSec }),
      ...(row
        ? {
            timed: {
              status: row.status,
              ...(row.reason ? { reason: row.reason } : {}),
              ...(row.detail ? { detail: row.detail } : {}),
              ...(row.note ? { note: row.note } : {}),
            },
          }
        : {}),
    };
  });
}
