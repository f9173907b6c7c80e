import type { MaybePromise } from '@stable-adamw/core';
import { andThen, type TensorStateValues } from '@stable-adamw/core/adapter';
import type { GpuJsParam } from './param.js';
import type { GpuJsTensor } from './tensor.js';

/**
 * Per-tensor optimizer state: float32 moments, on the device after the first step. A step swaps
 * in new tensors only once every kernel of the step has run.
 */
export interface GpuJsState {
  readonly param: GpuJsParam;
  expAvg: GpuJsTensor;
  expAvgSq: GpuJsTensor;
}

/** Fresh state: host zeros, which the first step uploads; its outputs live on the device. */
export function zeroState(param: GpuJsParam, numel: number): GpuJsState {
  return { param, expAvg: new Float32Array(numel), expAvgSq: new Float32Array(numel) };
}

/** State from a state dict's values, on the host until the next step uploads it. */
export function importedState(param: GpuJsParam, values: TensorStateValues): GpuJsState {
  return { param, expAvg: Float32Array.from(values.expAvg), expAvgSq: Float32Array.from(values.expAvgSq) };
}

/** The moments' values, read with `read` (float32: no Kahan term). */
export function exportedState(
  state: GpuJsState,
  read: (tensor: GpuJsTensor) => MaybePromise<Float32Array>,
): MaybePromise<TensorStateValues> {
  return andThen(read(state.expAvg), (expAvg) =>
    andThen(read(state.expAvgSq), (expAvgSq) => ({ expAvg, expAvgSq, kahanComp: null })),
  );
}
