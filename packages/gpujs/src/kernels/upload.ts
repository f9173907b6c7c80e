import type { MaybePromise } from '@stable-adamw/core';
import { type GpuJsTensor, numelOf } from '../tensor.js';
import { KERNEL_SETTINGS, type KernelCache } from './kernel-cache.js';
import type { KernelSource } from './source.js';

/** Copies host values onto the device (initial params, host gradients, fresh or loaded state). */
const COPY_KERNEL: KernelSource = `function copyKernel(a) {
  return a[this.thread.x];
}`;

/** A device copy of host values (or of another tensor). */
export function upload(kernels: KernelCache, values: GpuJsTensor): MaybePromise<GpuJsTensor> {
  const numel = numelOf(values);
  return kernels.launch(
    `copy:${numel}`,
    (gpu) => gpu.createKernel(COPY_KERNEL, { ...KERNEL_SETTINGS, output: [numel] }),
    values,
  ) as MaybePromise<GpuJsTensor>;
}
