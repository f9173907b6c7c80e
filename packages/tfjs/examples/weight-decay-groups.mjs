import '@tensorflow/tfjs-backend-cpu';
import { paramGroupsWeightDecay, StableAdamW } from '@stable-adamw/tfjs';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

await tf.setBackend('cpu');

const model = tfl.sequential({
  layers: [
    tfl.layers.dense({ units: 16, inputShape: [4], name: 'hidden' }),
    tfl.layers.layerNormalization({ name: 'norm' }),
    tfl.layers.dense({ units: 1, name: 'head' }),
  ],
});
// [{ params: [hidden/bias, norm/gamma, norm/beta, head/bias], weightDecay: 0 },
//  { params: [hidden/kernel, head/kernel], weightDecay: 0.05 }]
const groups = paramGroupsWeightDecay(model, { weightDecay: 0.05, additionalLayers: ['embed'] });
model.compile({ optimizer: new StableAdamW(groups, { lr: 1e-3 }), loss: 'meanSquaredError' });

const xs = tf.randomNormal([32, 4], 0, 1, 'float32', 3);
const ys = tf.mean(xs, 1, true);
await model.fit(xs, ys, { epochs: 2, batchSize: 8, verbose: 0 });
console.log(groups.map((g) => `${g.params.length} variables, weightDecay ${g.weightDecay}`));
tf.dispose([xs, ys]);
