import '@tensorflow/tfjs-backend-cpu';
import { DynamicLossScaler, stableAdamW } from '@stable-adamw/tfjs';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

await tf.setBackend('cpu');

const model = tfl.sequential({ layers: [tfl.layers.dense({ units: 1, inputShape: [2] })] });
// 2^130 is Inf in float32: the first steps overflow, are skipped, and the scale backs off.
const lossScaler = new DynamicLossScaler({ initScale: 2 ** 130, maxScale: 2 ** 130 });
const optimizer = stableAdamW({ lr: 1e-2, lossScaler });
model.compile({ optimizer, loss: 'meanSquaredError' });

const xs = tf.randomNormal([64, 2], 0, 1, 'float32', 4);
const ys = tf.sum(xs, 1, true);
const history = await model.fit(xs, ys, { epochs: 2, batchSize: 16, shuffle: false, verbose: 0 });
console.log(optimizer.skippedSteps, lossScaler.scale, history.history.loss); // unscaled losses
tf.dispose([xs, ys]);
