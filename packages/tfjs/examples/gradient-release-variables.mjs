import '@tensorflow/tfjs-backend-cpu';
// Registers tfjs's gradient functions, which tf.variableGrads needs (so does `@tensorflow/tfjs`).
import '@tensorflow/tfjs-layers';
import { prepareForGradientRelease, StableAdamW } from '@stable-adamw/tfjs';
import * as tf from '@tensorflow/tfjs-core';

await tf.setBackend('cpu');

const w = tf.variable(tf.zeros([8, 1]));
const b = tf.variable(tf.zeros([1]));
const optimizer = new StableAdamW([w, b], { lr: 1e-2, gradientRelease: true });
// Plain variables cannot be patched: the loss reads them through `read`.
const { read } = prepareForGradientRelease([w, b], optimizer);

const xs = tf.randomNormal([32, 8], 0, 1, 'float32', 2);
const ys = tf.sum(xs, 1, true);
for (let step = 0; step < 50; step++) {
  optimizer.minimize(() => tf.losses.meanSquaredError(ys, tf.add(tf.matMul(xs, read(w)), read(b))));
}
console.log('w after 50 steps', await w.data()); // moving towards all ones
tf.dispose([xs, ys, w, b]);
