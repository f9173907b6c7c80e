import '@tensorflow/tfjs-backend-cpu';
import { DynamicLossScaler, StableAdamW } from '@stable-adamw/tfjs';
import * as tf from '@tensorflow/tfjs-core';

await tf.setBackend('cpu');

const w = tf.variable(tf.tensor1d([1, 2, 3]), true, 'direct_w');
const lossScaler = new DynamicLossScaler({ initScale: 2 ** 10, growthInterval: 2 });
const optimizer = new StableAdamW([w], { lr: 1e-2, nonFinite: 'skip', gradientRelease: true, lossScaler });
for (const c of [
  [1, 2, 3],
  [Number.NaN, 1, 1],
  [3, 2, 1],
  [1, 1, 1],
]) {
  await optimizer.settled(); // the scale is the device's on webgpu and webgl
  // The gradient of the scaled loss Σ(w · c) · scale.
  const grad = tf.mul(tf.tensor1d(c), lossScaler.scale);
  optimizer.stepParam(w, grad);
  optimizer.applyGradients({}); // ends the iteration: the scaler backs off or grows
  grad.dispose();
}
await optimizer.settled();
console.log(lossScaler.scale, optimizer.skippedSteps, optimizer.iterations); // 1024 1 4: backed off at the NaN, grown after 2 clean iterations
optimizer.dispose();
w.dispose();
