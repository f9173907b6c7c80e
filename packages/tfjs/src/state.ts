import type { TensorStateValues } from '@stable-adamw/core/adapter';
import * as tf from '@tensorflow/tfjs-core';

/** Per-variable optimizer state, in `tf.Variable`s updated in place with `assign`. */
export interface TfjsState {
  readonly expAvg: tf.Variable;
  readonly expAvgSq: tf.Variable;
  /** Always null: tfjs has no 16-bit dtypes, and Kahan summation is a no-op for float32 (as in optimi). */
  readonly kahanComp: null;
}

/** A non-trainable float32 variable; the tensor it is created from is freed (the variable keeps the data). */
function stateVariable(initial: tf.Tensor): tf.Variable {
  const variable = tf.variable(initial, false);
  initial.dispose();
  return variable;
}

const variableFrom = (values: ArrayLike<number>, shape: number[]) =>
  stateVariable(tf.tensor(Float32Array.from(values), shape, 'float32'));

/** Zeroed moments shaped like `param`. */
export function createTfjsState(param: tf.Variable): TfjsState {
  return {
    expAvg: stateVariable(tf.zeros(param.shape, 'float32')),
    expAvgSq: stateVariable(tf.zeros(param.shape, 'float32')),
    kahanComp: null,
  };
}

/** Moments from a state dict's values (lengths already checked by core). */
export function importTfjsState(param: tf.Variable, values: TensorStateValues): TfjsState {
  return {
    expAvg: variableFrom(values.expAvg, param.shape),
    expAvgSq: variableFrom(values.expAvgSq, param.shape),
    kahanComp: null,
  };
}

/** Reads the moments back from the device: the only read of a step-free path (state dicts). */
export async function exportTfjsState(state: TfjsState): Promise<TensorStateValues> {
  const [expAvg, expAvgSq] = await Promise.all([state.expAvg.data(), state.expAvgSq.data()]);
  return { expAvg, expAvgSq, kahanComp: null };
}

/** Frees the moments' device memory. */
export function disposeTfjsState(state: TfjsState): void {
  state.expAvg.dispose();
  state.expAvgSq.dispose();
}
