/**
 * GPU work per optimizer step: WebGPU compute dispatches (and queue submits), WebGL draw calls
 * (each tfjs program and each draw of our own programs) or gpu.js kernel launches, counted around the optimizer's own call on
 * each timed step (the readback that waits for the step is not counted). Runs in Node and in the
 * browser bundle: no Node-only imports here.
 */

/** What was counted: `GPUComputePassEncoder.dispatchWorkgroups`, WebGL `draw*` calls, gpu.js launches. */
export type DispatchUnit = 'webgpu-dispatch' | 'webgl-draw' | 'gpujs-launch';

/** The count of one step. */
export interface DispatchSample {
  unit: DispatchUnit;
  dispatches: number;
  /** WebGPU: `GPUQueue.submit` calls in the same step. */
  submits?: number;
}

/** What a row records about its steps' GPU work (nothing for rows that have no GPU to count). */
export interface DispatchFields {
  dispatchUnit?: DispatchUnit;
  /** Median over the timed steps. */
  dispatchesPerStep?: number;
  /** Median over the timed steps (WebGPU). */
  submitsPerStep?: number;
  /** [min, max] when the timed steps did not all dispatch the same number. */
  dispatchesRange?: [number, number];
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

/** The fields for the timed steps' samples: medians, and the range when the steps differed. */
export function summarizeDispatches(samples: readonly DispatchSample[]): DispatchFields {
  const first = samples[0];
  if (!first) return {};
  const counts = samples.map((s) => s.dispatches);
  const submits = samples.flatMap((s) => (s.submits === undefined ? [] : [s.submits]));
  const min = Math.min(...counts);
  const max = Math.max(...counts);
  return {
    dispatchUnit: first.unit,
    dispatchesPerStep: median(counts),
    ...(submits.length > 0 ? { submitsPerStep: median(submits) } : {}),
    ...(min === max ? {} : { dispatchesRange: [min, max] as [number, number] }),
  };
}

const UNIT_WORD: Record<DispatchUnit, [string, string]> = {
  'webgpu-dispatch': ['dispatch', 'dispatches'],
  'webgl-draw': ['draw', 'draws'],
  'gpujs-launch': ['launch', 'launches'],
};

/**
 * A row's count for a table: `3 dispatches, 1 submit`, `1540 draws`, `12–14 launches`; `—` where
 * nothing was counted.
 */
export function formatDispatches(fields: DispatchFields): string {
  const { dispatchUnit: unit, dispatchesPerStep: n } = fields;
  if (unit === undefined || n === undefined) return '—';
  const [one, many] = UNIT_WORD[unit];
  const count = fields.dispatchesRange ? `${fields.dispatchesRange[0]}–${fields.dispatchesRange[1]}` : String(n);
  const word = !fields.dispatchesRange && n === 1 ? one : many;
  const submits = fields.submitsPerStep;
  return `${count} ${word}${submits === undefined ? '' : `, ${submits} submit${submits === 1 ? '' : 's'}`}`;
}
