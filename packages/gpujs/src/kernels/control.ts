import type { MaybePromise } from '@stable-adamw/core';
import type { GpuJsTensor } from '../tensor.js';
import { KERNEL_SETTINGS, type KernelCache } from './kernel-cache.js';
import { CONTROL, type KernelSource } from './source.js';

// The control kernel of a step whose device decides `nonFinite: 'skip'` (see device-skip.ts): one
// launch per step, whatever the number of tensors, reading the previous step's control tensor and
// the step's non-finite count, writing this step's. Layout (CONTROL in source.ts), G groups:
//   0 the loss scale after this step (the next loss's, float32: Inf past its range)
//   1 1 when this step is skipped, else 0
//   2, 3 the unscale of this step's scale, 1/scale as two normal float32 factors
//   4 clean steps since the epoch began, 5 skipped steps in all, 6 `lastStepSkipped`
//   7, 8 the scale after this step as significand in [0.5, 1) and exponent (exact past float32)
//   9 the growth tracker
//   10 + 3g … the group g's (1 − β̂1, β̂2, 1 − β̂2) at this step's t, from a host table of rows
//   tail = 10 + 3G: a stepParam was skipped since the last whole step (core's skippedSinceStep)
//   tail + 1 + i (gradient release): param i's clean stepParam calls since the epoch began
// A gradient-release `stepParam` has its own control launch (PARAM_CONTROL_KERNEL): it counts the
// call or the skip alone, and writes its group's row from the param's own count.
// Every thread recomputes the decision and writes its own entry. Powers of two are `Math.pow(2, k)`
// of integers, exact where exp2 of an integer is.

const NEXT_SCALE = `
  let f = prev[7];
  let e = prev[8];
  let factor = 1;
  if (scaler > 0 && overflow > 0) {
    factor = backoff;
  }
  if (scaler > 0 && overflow === 0 && prev[9] + 1 >= interval) {
    factor = growth;
  }
  f = f * factor;
  const k = Math.floor(Math.log2(f)) + 1;
  f = f / Math.pow(2, k);
  e = e + k;
  if (f >= 1) {
    f = f / 2;
    e = e + 1;
  }
  if (f < 0.5) {
    f = f * 2;
    e = e - 1;
  }
  if (factor < 1 && (e < minExp || (e === minExp && f < minFract))) {
    f = minFract;
    e = minExp;
  }
  if (factor > 1 && (e > maxExp || (e === maxExp && f > maxFract))) {
    f = maxFract;
    e = maxExp;
  }`;

/** The unscale factors of the scale in prev[7], prev[8] (entries 2 and 3). */
const UNSCALE = `
  if (this.thread.x === ${CONTROL.gradA}) {
    return Math.pow(2, -Math.floor(prev[8] / 2)) / prev[7];
  }
  if (this.thread.x === ${CONTROL.gradB}) {
    return Math.pow(2, Math.floor(prev[8] / 2) - prev[8]);
  }`;

// A whole step after a skipped stepParam is an overflow for the scaler and `lastStepSkipped`
// (core's #endStep), but runs, and counts as clean, unless its own gradients are non-finite.
const CONTROL_KERNEL: KernelSource = `function controlKernel(prev, found, hostFound, betas, rows, tail, scaler, interval, growth, backoff, minFract, minExp, maxFract, maxExp, maxFinite) {
  let skip = 0;
  if (found[0] > 0 || hostFound > 0) {
    skip = 1;
  }
  let overflow = skip;
  if (prev[tail] > 0) {
    overflow = 1;
  }
  if (this.thread.x > tail) {
    return prev[this.thread.x];
  }
  if (this.thread.x === tail) {
    return 0;
  }
  if (this.thread.x >= ${CONTROL.rows}) {
    const group = Math.floor((this.thread.x - ${CONTROL.rows}) / 3);
    return betas[3 * (group * rows + Math.min(prev[4], rows - 1)) + this.thread.x - ${CONTROL.rows} - 3 * group];
  }
  if (this.thread.x === ${CONTROL.skip}) {
    return skip;
  }
  if (this.thread.x === 6) {
    return overflow;
  }${UNSCALE}
  if (this.thread.x === 4) {
    return prev[4] + 1 - skip;
  }
  if (this.thread.x === 5) {
    return prev[5] + skip;
  }
  if (this.thread.x === 9) {
    if (scaler === 0 || overflow > 0 || prev[9] + 1 >= interval) {
      return 0;
    }
    return prev[9] + 1;
  }${NEXT_SCALE}
  if (this.thread.x === 7) {
    return f;
  }
  if (this.thread.x === 8) {
    return e;
  }
  if (e > 128) {
    return maxFinite * 2;
  }
  return f * Math.pow(2, Math.floor(e / 2)) * Math.pow(2, e - Math.floor(e / 2));
}`;

/**
 * A gradient-release `stepParam` of param `at - tail - 1` in the group whose row starts at `row`:
 * a skip counts in `skippedSteps`, `lastStepSkipped` and the tail's "skipped since the last
 * step" flag; a clean call (an accumulation-only one too) in the param's count, and clears
 * `lastStepSkipped`. The scale and the group counters stay; the group's row holds the betas at
 * the param's own step, from a host table of the param's rows.
 */
const PARAM_CONTROL_KERNEL: KernelSource = `function paramControlKernel(prev, found, hostFound, betas, rows, tail, at, row) {
  let skip = 0;
  if (found[0] > 0 || hostFound > 0) {
    skip = 1;
  }
  if (this.thread.x === ${CONTROL.skip} || this.thread.x === 6) {
    return skip;
  }${UNSCALE}
  if (this.thread.x === 5) {
    return prev[5] + skip;
  }
  if (this.thread.x === tail) {
    return Math.max(prev[tail], skip);
  }
  if (this.thread.x === at) {
    return prev[at] + 1 - skip;
  }
  if (this.thread.x >= row && this.thread.x < row + 3) {
    return betas[3 * Math.min(prev[at], rows - 1) + this.thread.x - row];
  }
  return prev[this.thread.x];
}`;

/** The loss scaler's settings, as the control kernel takes them (no scaler: `scaler` 0). */
export interface ScalerArgs {
  readonly scaler: number;
  readonly interval: number;
  readonly growth: number;
  readonly backoff: number;
  readonly minFract: number;
  readonly minExp: number;
  readonly maxFract: number;
  readonly maxExp: number;
}

/** Where a control tensor of `groups` groups and `params` counted params keeps its tail (see the layout above). */
export function controlShape(groups: number, params: number): { size: number; tail: number } {
  const tail = CONTROL.rows + 3 * groups;
  return { size: tail + 1 + params, tail };
}

/**
 * This step's control tensor (`size` entries, the flag of skipped stepParams at `tail`) from the
 * previous one (`prev`, a device tensor or the host values an epoch starts from), the device's
 * non-finite count `found` (1 element), the host's finding (`hostFound`, for host gradients) and
 * the betas table of `rows` rows per group.
 */
export function launchControl(
  kernels: KernelCache,
  shape: { size: number; tail: number },
  tensors: { prev: GpuJsTensor; found: GpuJsTensor; betas: GpuJsTensor },
  hostFound: boolean,
  rows: number,
  s: ScalerArgs,
  maxFinite: number,
): MaybePromise<GpuJsTensor> {
  const { prev, found, betas } = tensors;
  return kernels.launch(
    `control:${shape.size}:${rows}:${kindOf(prev, found)}`,
    (gpu) => gpu.createKernel(CONTROL_KERNEL, { ...KERNEL_SETTINGS, output: [shape.size] }),
    prev,
    found,
    hostFound ? 1 : 0,
    betas,
    rows,
    shape.tail,
    s.scaler,
    s.interval,
    s.growth,
    s.backoff,
    s.minFract,
    s.minExp,
    s.maxFract,
    s.maxExp,
    maxFinite,
  ) as MaybePromise<GpuJsTensor>;
}

/** Whether each of `tensors` is a host array or a device tensor: gpu.js compiles one kernel per argument kind. */
function kindOf(...tensors: GpuJsTensor[]): string {
  return tensors.map((t) => (t instanceof Float32Array ? 'a' : 't')).join('');
}

/**
 * A gradient-release `stepParam`'s control tensor from the previous one (see
 * PARAM_CONTROL_KERNEL): param `index`'s count at `shape.tail + 1 + index`, its group's row at
 * `row`, and `betas` the param's table of `rows` rows (its steps base + 1 …).
 */
export function launchParamControl(
  kernels: KernelCache,
  shape: { size: number; tail: number },
  tensors: { prev: GpuJsTensor; found: GpuJsTensor; betas: GpuJsTensor },
  hostFound: boolean,
  rows: number,
  place: { index: number; row: number },
): MaybePromise<GpuJsTensor> {
  const { prev, found, betas } = tensors;
  return kernels.launch(
    `paramControl:${shape.size}:${rows}:${kindOf(prev, found)}`,
    (gpu) => gpu.createKernel(PARAM_CONTROL_KERNEL, { ...KERNEL_SETTINGS, output: [shape.size] }),
    prev,
    found,
    hostFound ? 1 : 0,
    betas,
    rows,
    shape.tail,
    shape.tail + 1 + place.index,
    place.row,
  ) as MaybePromise<GpuJsTensor>;
}

/** `a + b` of two 1-element tensors: the running non-finite count of a step's gradients. */
const ADD_KERNEL: KernelSource = `function addCountKernel(a, b) {
  return a[0] + b[0];
}`;

export function launchAddCount(kernels: KernelCache, a: GpuJsTensor, b: GpuJsTensor): MaybePromise<GpuJsTensor> {
  return kernels.launch(
    'addCount',
    (gpu) => gpu.createKernel(ADD_KERNEL, { ...KERNEL_SETTINGS, output: [1] }),
    a,
    b,
  ) as MaybePromise<GpuJsTensor>;
}
