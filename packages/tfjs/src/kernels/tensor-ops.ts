import type { TensorOpsV1 } from '@stable-adamw/core/adapter';
import * as tf from '@tensorflow/tfjs-core';

/** Block size of the pairwise sum: partial sums of ≤ 1024 float32 values, then sums of those. */
const BLOCK = 1024;

/**
 * Σ x with a blocked two-level (recursive) reduction. Backends such as wasm and cpu accumulate a
 * plain `sum` sequentially in float32, whose error grows with n; blocking keeps it near √n·ε
 * at one extra small reduction, and never leaves the device.
 */
export function blockedSum(x: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    let flat = tf.reshape(x, [-1]);
    while (flat.size > BLOCK) {
      const rows = Math.ceil(flat.size / BLOCK);
      const padded = rows * BLOCK === flat.size ? flat : tf.pad(flat, [[0, rows * BLOCK - flat.size]]);
      flat = tf.sum(tf.reshape(padded, [rows, BLOCK]), 1);
    }
    return tf.sum(flat) as tf.Scalar;
  });
}

/**
 * a / b with IEEE semantics on every backend. tfjs-backend-webgl's division returns 1 whenever
 * a == b (for precision), which turns Inf/Inf into 1 instead of NaN: a non-finite gradient would
 * then step the param by lr instead of making it NaN, unlike every other backend.
 */
function divide(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  const quotient = tf.div(a, b);
  if (tf.getBackend() !== 'webgl') return quotient;
  return tf.where(tf.logicalAnd(tf.isInf(a), tf.equal(a, b)), tf.scalar(Number.NaN), quotient);
}

/** Core's tensor-ops contract over tfjs ops (float32), for the composed kernel. */
export const tfjsOps: TensorOpsV1<tf.Tensor> = {
  scalar: (value) => tf.scalar(value, 'float32'),
  add: (a, b) => tf.add(a, b),
  sub: (a, b) => tf.sub(a, b),
  mul: (a, b) => tf.mul(a, b),
  div: divide,
  sqrt: (a) => tf.sqrt(a),
  maximum: (a, b) => tf.maximum(a, b),
  // a > b is false for NaN, so NaN picks b: optimi's max(1, NaN) = 1.
  selectGreater: (a, b) => tf.where(tf.greater(a, b), a, b),
  sum: blockedSum,
  assign: (target, value) => {
    (target as tf.Variable).assign(value);
  },
  tidy: (fn) => tf.tidy(fn as () => tf.Tensor) as ReturnType<typeof fn>,
  dispose: (tensor) => tensor.dispose(),
};
