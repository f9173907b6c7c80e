import '@tensorflow/tfjs-backend-cpu';
import { prepareForGradientRelease, removeGradientRelease, stableAdamW } from '@stable-adamw/tfjs';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

await tf.setBackend('cpu');

const model = tfl.sequential({
  layers: [tfl.layers.dense({ units: 64, inputShape: [8], activation: 'relu' }), tfl.layers.dense({ units: 1 })],
});
const optimizer = stableAdamW({ lr: 1e-2, gradientRelease: true });
model.compile({ optimizer, loss: 'meanSquaredError' });
// From now on model.fit/trainOnBatch step each variable inside backprop, as soon as its gradient
// exists, and free that gradient: the gradients of all layers are never alive at once.
prepareForGradientRelease(model, optimizer);

const xs = tf.randomNormal([64, 8], 0, 1, 'float32', 1);
const ys = tf.sum(xs, 1, true);
await model.fit(xs, ys, { epochs: 5, batchSize: 16, verbose: 0 });

// Optimizer accumulation: moments only for 3 micro-batches of 16, the full update on the 4th.
for (let i = 0; i < 8; i++) {
  optimizer.accumulate = (i + 1) % 4 !== 0;
  const x = tf.slice(xs, [(i % 4) * 16, 0], [16, -1]);
  const y = tf.slice(ys, [(i % 4) * 16, 0], [16, -1]);
  await model.trainOnBatch(x, y);
  tf.dispose([x, y]);
}
removeGradientRelease(model); // back to plain training; the optimizer state is kept

const state = await optimizer.stateDict();
console.log('steps per variable', state.state[0].step); // 20 from fit + 8 micro-batches
tf.dispose([xs, ys]);
