import type * as tf from '@tensorflow/tfjs-core';

/** Per-variable optimizer state, in `tf.Variable`s updated in place with `assign`. */
export interface TfjsState {
  readonly expAvg: tf.Variable;
  readonly expAvgSq: tf.Variable;
  /** Always null: tfjs has no 16-bit dtypes, and Kahan summation is a no-op for float32 (as in optimi). */
  readonly kahanComp: null;
}
