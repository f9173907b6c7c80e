import type { BenchDtype } from './bytes.js';
import { baseRow, type MeasureOptions, measureRow, skipReason } from './measure.js';
import type { BenchRow } from './row.js';
import type { Shape } from './shapes.js';
import type { BenchSubject } from './subjects/subject.js';

export interface RunOptions extends MeasureOptions {
  shapes: readonly Shape[];
  dtypes: readonly BenchDtype[];
  /** Called after each row, e.g. to print progress. */
  onRow?: (row: BenchRow) => void;
}

/** Every subject × shape × dtype; a subject whose `prepare` fails gets one skipped row per combination. */
export async function runSubjects(subjects: readonly BenchSubject[], options: RunOptions): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const emit = (row: BenchRow) => {
    rows.push(row);
    options.onRow?.(row);
  };
  for (const subject of subjects) {
    let unavailable: string | undefined;
    try {
      await subject.prepare?.();
    } catch (error) {
      unavailable = `unavailable here: ${error instanceof Error ? error.message : String(error)}`;
    }
    for (const shape of options.shapes) {
      for (const dtype of options.dtypes) {
        if (unavailable) {
          // A combination the subject skips anyway keeps that reason; the rest say why the backend is missing.
          const reason = skipReason(subject, shape, dtype) ?? unavailable;
          emit({ ...baseRow(subject, shape, dtype, options.environment), status: 'skipped', reason });
        } else {
          emit(await measureRow(subject, shape, dtype, options));
        }
      }
    }
  }
  return rows;
}
