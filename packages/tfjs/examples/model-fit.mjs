import '@tensorflow/tfjs-backend-cpu';
import { stableAdamW } from '@stable-adamw/tfjs';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

await tf.setBackend('cpu');

// y = 2x − 1 with a small dense model; StableAdamW plugs into model.compile like any tfjs optimizer.
const model = tfl.sequential({
  layers: [tfl.layers.dense({ units: 8, inputShape: [1], activation: 'relu' }), tfl.layers.dense({ units: 1 })],
});
model.compile({ optimizer: stableAdamW({ lr: 1e-2, weightDecay: 1e-4 }), loss: 'meanSquaredError' });

const xs = tf.reshape(tf.linspace(-1, 1, 64), [64, 1]);
const ys = tf.sub(tf.mul(xs, 2), 1);
const history = await model.fit(xs, ys, { epochs: 40, batchSize: 16, shuffle: false, verbose: 0 });
console.log('final loss', history.history.loss?.at(-1));
tf.dispose([xs, ys]);
