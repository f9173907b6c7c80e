import type { MaybePromise } from '@stable-adamw/core';
import type { GpuJsTensor } from '../tensor.js';
import { KERNEL_SETTINGS, type KernelCache } from './kernel-cache.js';
import { CONTROL, type KernelSource } from './source.js';

// The control kernel of a step whose device decides `nonFinite: 'skip'` (see device-skip.ts): one
// launch per step, whatever the number of tensors, reading the previous step's control tensor and
// the step's non-finite count, writing this step's. Layout (CONTROL in source.ts):
//   0 the loss scale after this step (the next loss's, float32: Inf past its range)
//   1 1 when this step is skipped, else 0
//   2, 3 the unscale of this step's scale, 1/scale as two normal float32 factors
//   4 clean steps since the epoch began, 5 skipped steps in all, 6 whether this step was skipped
//   7, 8 the scale after this step as significand in [0.5, 1) and exponent (exact past float32)
//   9 the growth tracker
//   10 + 3g … the group g's (1 − β̂1, β̂2, 1 − β̂2) at this step's t, from a host table of rows
// Every thread recomputes the decision and writes its own entry. Powers of two are `Math.pow(2, k)`
// of integers, exact where exp2 of an integer is.

const NEXT_SCALE = `
  let f = prev[7];
  let e = prev[8];
  let factor = 1;
  if (scaler > 0 && skip > 0) {
    factor = backoff;
  }
  if (scaler > 0 && skip === 0 && prev[9] + 1 >= interval) {
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

const CONTROL_KERNEL: KernelSource = `function controlKernel(prev, found, hostFound, betas, rows, scaler, interval, growth, backoff, minFract, minExp, maxFract, maxExp, maxFinite) {
  let skip = 0;
  if (found[0] > 0 || hostFound > 0) {
    skip = 1;
  }
  if (this.thread.x >= ${CONTROL.rows}) {
    const group = Math.floor((this.thread.x - ${CONTROL.rows}) / 3);
    return betas[3 * (group * rows + Math.min(prev[4], rows - 1)) + this.thread.x - ${CONTROL.rows} - 3 * group];
  }
  if (this.thread.x === ${CONTROL.skip} || this.thread.x === 6) {
    return skip;
  }
  if (this.thread.x === ${CONTROL.gradA}) {
    return Math.pow(2, -Math.floor(prev[8] / 2)) / prev[7];
  }
  if (this.thread.x === ${CONTROL.gradB}) {
    return Math.pow(2, Math.floor(prev[8] / 2) - prev[8]);
  }
  if (this.thread.x === 4) {
    return prev[4] + 1 - skip;
  }
  if (this.thread.x === 5) {
    return prev[5] + skip;
  }
  if (this.thread.x === 9) {
    if (scaler === 0 || skip > 0 || prev[9] + 1 >= interval) {
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

/**
 * This step's control tensor from the previous one (`prev`, a device tensor or the host values an
 * epoch starts from), the device's non-finite count `found` (1 element), the host's finding
 * (`hostFound`, for host gradients) and the betas table of `rows` rows per group.
 */
export function launchControl(
  kernels: KernelCache,
  groups: number,
  tensors: { prev: GpuJsTensor; found: GpuJsTensor; betas: GpuJsTensor },
  hostFound: boolean,
  rows: number,
  s: ScalerArgs,
  maxFinite: number,
): MaybePromise<GpuJsTensor> {
  const { prev, found, betas } = tensors;
  const kind = [prev, found].map((t) => (t instanceof Float32Array ? 'a' : 't')).join('');
  return kernels.launch(
    `control:${groups}:${rows}:${kind}`,
    (gpu) => gpu.createKernel(CONTROL_KERNEL, { ...KERNEL_SETTINGS, output: [CONTROL.rows + 3 * groups] }),
    prev,
    found,
    hostFound ? 1 : 0,
    betas,
    rows,
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
