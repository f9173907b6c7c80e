import { runSubjects } from '../run.js';
import { shapes } from '../shapes.js';
import { browserSubjects } from './subjects.js';

/** Chromium's non-standard heap figures, where it exposes them. */
function jsHeap(): { jsHeapBytes?: number } {
  const memory = (performance as Performance & { memory?: { usedJSHeapSize: number } }).memory;
  return memory ? { jsHeapBytes: memory.usedJSHeapSize } : {};
}

// The page's side of the browser runner: runs the requested subjects here and streams rows back.
window.stableAdamWBench = {
  run(ids, options) {
    return runSubjects(
      browserSubjects().filter((s) => ids.includes(s.id)),
      {
        shapes: shapes(options.quick).filter((s) => options.shapes.includes(s.name)),
        dtypes: options.dtypes,
        warmup: options.warmup,
        steps: options.steps,
        environment: 'chromium',
        hostMemory: jsHeap,
        onRow: (row) => void window.benchRow(row),
      },
    );
  },
};
