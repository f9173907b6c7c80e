import type { MomentScalars, UpdateScalars } from '@stable-adamw/core/adapter';
import type { DeviceFacts } from './device.js';
import type { KernelCache } from './kernels/kernel-cache.js';
import type { DeviceControl } from './kernels/source.js';
import type { GpuJsParam } from './param.js';
import type { GpuJsState } from './state.js';
import type { GpuJsTensor, liveTensorProblem } from './tensor.js';

// The shapes a step passes between its per-tensor (step-batch.ts) and packed (packed-step.ts) paths.

/** One tensor of a step: phase 1 always, phase 2 unless `update` is null (accumulation only). */
export interface BatchItem {
  readonly param: GpuJsParam;
  readonly grad: GpuJsTensor;
  readonly state: GpuJsState;
  readonly moments: MomentScalars;
  readonly update: UpdateScalars | null;
  /** A step whose device decides `nonFinite: 'skip'`: the kernels read their scalars from it. */
  readonly control?: DeviceControl;
}

/** What a step needs from the backend: its kernels, the device, and its registry of owned tensors. */
export interface StepEnvironment {
  readonly kernels: KernelCache;
  readonly device: DeviceFacts;
  readonly gpu: Parameters<typeof liveTensorProblem>[1];
  /** Takes a tensor into the optimizer's ownership (freed on replacement or destroy). */
  own(tensor: GpuJsTensor): GpuJsTensor;
  /** Frees a tensor the optimizer owns; the caller's tensors are left alone. */
  release(tensor: GpuJsTensor): void;
}

/** New tensors of one item, swapped in once every item's kernels have run. */
export interface Outcome {
  readonly item: BatchItem;
  readonly expAvg: GpuJsTensor;
  readonly expAvgSq: GpuJsTensor;
  readonly data: GpuJsTensor | null;
}
