import type { MaybePromise } from '@stable-adamw/core';
import type { IKernelFunctionThis } from 'gpu.js';
import { type GpuJsTensor, numelOf } from '../tensor.js';
import { KERNEL_SETTINGS, type KernelCache } from './kernel-cache.js';

// gpu.js parses kernel bodies: only `this.thread`, `this.constants` and the arguments, no closures.

/** Copies host values onto the device (initial params, host gradients, fresh or loaded state). */
export function copyKernel(this: IKernelFunctionThis, a: number[]): number {
  return a[this.thread.x] as number;
}

/** A device copy of host values (or of another tensor). */
export function upload(kernels: KernelCache, values: GpuJsTensor): MaybePromise<GpuJsTensor> {
  const numel = numelOf(values);
  return kernels.launch(
    `copy:${numel}`,
    (gpu) => gpu.createKernel(copyKernel, { ...KERNEL_SETTINGS, output: [numel] }),
    values,
  ) as MaybePromise<GpuJsTensor>;
}
