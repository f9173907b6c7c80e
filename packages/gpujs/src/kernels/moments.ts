import type { MaybePromise } from '@stable-adamw/core';
import { andThen } from '@stable-adamw/core/adapter';
import type { IKernelRunShortcut } from 'gpu.js';
import type { GpuJsTensor } from '../tensor.js';
import { KERNEL_SETTINGS, type KernelCache } from './kernel-cache.js';
import { type DeviceControl, type KernelSource, kernelFor, unscaleFactors } from './source.js';

// Phase 1, the moments, as source text (see source.ts). Every output is 1-D, index i is
// `this.thread.x`. Each gradient value is first multiplied by the gradient scale s (a loss
// scaler's 1/scale, or 1) as it is read, as two factors (see `unscaleFactors`).

/** m ← m + (1−β̂1)(s·g − m), torch's lerp. */
const EXP_AVG_KERNEL: KernelSource = `function expAvgKernel(g, m, beta1c, gradA, gradB) {
  const mi = m[this.thread.x];
  return mi + beta1c * (g[this.thread.x] * gradA * gradB - mi);
}`;

/** v ← β̂2·v + (1−β̂2)·(s·g)². */
const EXP_AVG_SQ_KERNEL: KernelSource = `function expAvgSqKernel(g, v, beta2Hat, beta2c, gradA, gradB) {
  const gi = g[this.thread.x] * gradA * gradB;
  return v[this.thread.x] * beta2Hat + beta2c * (gi * gi);
}`;

/** Kernel-map output of the new m (identity: calling it records the value). */
const NEW_EXP_AVG: KernelSource = 'function newExpAvg(value) { return value; }';

/** Both moments in one launch where kernel maps exist: returns v, writes m through `newExpAvg`. */
const MOMENTS_MAP_KERNEL: KernelSource = `function momentsMapKernel(g, m, v, beta1c, beta2Hat, beta2c, gradA, gradB) {
  const gi = g[this.thread.x] * gradA * gradB;
  const mi = m[this.thread.x];
  newExpAvg(mi + beta1c * (gi - mi));
  return v[this.thread.x] * beta2Hat + beta2c * (gi * gi);
}`;

/** Moments after phase 1, each a fresh device tensor. */
export interface NewMoments {
  expAvg: GpuJsTensor;
  expAvgSq: GpuJsTensor;
}

const M = 'm[this.thread.x]';
const V = 'v[this.thread.x]';

/**
 * The moments of one tensor: one kernel map with two outputs where `kernelMap`, else two kernels.
 * With `control` (a step whose device decides 'skip') the scalars come from the device, and a
 * skipped step copies m and v.
 */
export function launchMoments(
  kernels: KernelCache,
  kernelMap: boolean,
  numel: number,
  grad: GpuJsTensor,
  expAvg: GpuJsTensor,
  expAvgSq: GpuJsTensor,
  { beta1Hat, beta2Hat, gradScale }: { beta1Hat: number; beta2Hat: number; gradScale: number },
  control?: DeviceControl,
): MaybePromise<NewMoments> {
  const [gradA, gradB] = unscaleFactors(gradScale);
  const beta1c = 1 - beta1Hat;
  const beta2c = 1 - beta2Hat;
  const output = [numel];
  if (kernelMap) {
    const k = kernelFor(
      `moments:${numel}`,
      MOMENTS_MAP_KERNEL,
      `newExpAvg(${M});\n    return ${V};`,
      { beta1c, beta2Hat, beta2c, gradA, gradB },
      control,
    );
    const result = kernels.launch(
      k.key,
      (gpu) =>
        // gpu.js accepts source text for both (its kernel-map typings list functions only).
        gpu.createKernelMap({ expAvg: NEW_EXP_AVG as never }, k.source as never, {
          ...KERNEL_SETTINGS,
          output,
        }) as unknown as IKernelRunShortcut,
      grad,
      expAvg,
      expAvgSq,
      ...k.args,
    );
    return andThen(result, (r) => {
      const out = r as { result: GpuJsTensor; expAvg: GpuJsTensor };
      return { expAvg: out.expAvg, expAvgSq: out.result };
    });
  }
  const mk = kernelFor(`expAvg:${numel}`, EXP_AVG_KERNEL, `return ${M};`, { beta1c, gradA, gradB }, control);
  const vk = kernelFor(`expAvgSq:${numel}`, EXP_AVG_SQ_KERNEL, `return ${V};`, { beta2Hat, beta2c, gradA, gradB }, control);
  const m = kernels.launch(
    mk.key,
    (gpu) => gpu.createKernel(mk.source, { ...KERNEL_SETTINGS, output }),
    grad,
    expAvg,
    ...mk.args,
  );
  return andThen(m, (newM) =>
    andThen(
      kernels.launch(vk.key, (gpu) => gpu.createKernel(vk.source, { ...KERNEL_SETTINGS, output }), grad, expAvgSq, ...vk.args),
      (newV) => ({ expAvg: newM as GpuJsTensor, expAvgSq: newV as GpuJsTensor }),
    ),
  );
}
