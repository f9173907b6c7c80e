import '@tensorflow/tfjs-backend-cpu';
import { InvalidHyperparameterError, InvalidParamError } from '@stable-adamw/core';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { paramGroupsWeightDecay, StableAdamW } from './index.js';
import { disposeModel, samples } from './testing/release-models.js';

const unique = (name: string) => `${name}_${Math.random().toString(36).slice(2)}`;

/** dense → layer norm → dense, with unique layer names so variable names are predictable. */
function normedModel(): { model: tfl.Sequential; names: Record<'hidden' | 'norm' | 'head', string> } {
  const names = { hidden: unique('hidden'), norm: unique('norm'), head: unique('head') };
  const model = tfl.sequential({
    layers: [
      tfl.layers.dense({ name: names.hidden, units: 5, inputShape: [3], biasInitializer: 'ones' }),
      tfl.layers.layerNormalization({ name: names.norm }),
      tfl.layers.dense({ name: names.head, units: 2, biasInitializer: 'ones' }),
    ],
  });
  return { model, names };
}

const namesOf = (params: readonly tf.Variable[], model: tfl.LayersModel) =>
  params.map((v) => model.trainableWeights.find((w) => w.read() === v)?.name);

describe('paramGroupsWeightDecay for tfjs', () => {
  beforeAll(async () => {
    expect(await tf.setBackend('cpu')).toBe(true);
  });

  it('splits a model: biases and norm scales in a weightDecay 0 group, kernels decayed', () => {
    const { model, names } = normedModel();
    const groups = paramGroupsWeightDecay(model, { weightDecay: 0.05 });
    expect(groups.map((g) => g.weightDecay)).toEqual([0, 0.05]);
    expect(namesOf(groups[0]?.params ?? [], model)).toEqual([
      `${names.hidden}/bias`,
      `${names.norm}/gamma`,
      `${names.norm}/beta`,
      `${names.head}/bias`,
    ]);
    expect(namesOf(groups[1]?.params ?? [], model)).toEqual([`${names.hidden}/kernel`, `${names.head}/kernel`]);
    // additionalLayers matches layer names too; the default weight decay is optimi's 1e-2.
    const withHead = paramGroupsWeightDecay(model, { additionalLayers: [names.head] });
    expect(withHead.map((g) => g.weightDecay)).toEqual([0, 1e-2]);
    expect(namesOf(withHead[1]?.params ?? [], model)).toEqual([`${names.hidden}/kernel`]);
    disposeModel(model);
  });

  it('takes named variables, leaves out non-trainable ones and rejects bad input', () => {
    const w = tf.variable(tf.ones([2, 3]), true, unique('w'));
    const scale = tf.variable(tf.ones([3]), true, unique('scale'));
    const bias2d = tf.variable(tf.ones([1, 3]), true, `${unique('proj')}/bias`);
    const frozen = tf.variable(tf.ones([2, 2]), false, unique('frozen'));
    const groups = paramGroupsWeightDecay([w, scale, bias2d, frozen]);
    expect(groups).toEqual([
      { params: [scale, bias2d], weightDecay: 0 },
      { params: [w], weightDecay: 1e-2 },
    ]);
    expect(() => paramGroupsWeightDecay([w, 'x' as never])).toThrow(InvalidParamError);
    expect(() => paramGroupsWeightDecay([w, 'x' as never])).toThrow(/target\[1\]` is not a tf.Variable/);
    expect(() => paramGroupsWeightDecay([w, w])).toThrow(/appears twice/);
    expect(() => paramGroupsWeightDecay([w], { weightDecay: -1 })).toThrow(InvalidHyperparameterError);
    tf.dispose([w, scale, bias2d, frozen]);
  });

  it('trains a compiled model decaying kernels only (zero gradients: kernel·(1 − lr·wd), bias unchanged)', async () => {
    const { model } = normedModel();
    const lr = 0.1;
    const weightDecay = 0.2;
    const optimizer = new StableAdamW(paramGroupsWeightDecay(model, { weightDecay }), { lr });
    // A loss with zero gradient everywhere: m = v = 0, so RMS = 0, η = lr and the Adam term is 0;
    // only decoupled weight decay moves a variable.
    model.compile({ optimizer, loss: (_yTrue: tf.Tensor, yPred: tf.Tensor) => tf.mul(tf.mean(yPred), 0) });
    const before = await Promise.all(model.trainableWeights.map(async (w) => Array.from(await w.read().data())));
    const { x, y } = samples(4, 3, 2);
    await model.trainOnBatch(x, y);
    const factor = Math.fround(1 - lr * weightDecay);
    for (const [i, w] of model.trainableWeights.entries()) {
      const after = Array.from(await w.read().data());
      const initial = before[i] as number[];
      if (w.name.endsWith('/kernel')) {
        expect(after).toEqual(initial.map((k) => Math.fround(k * factor)));
        expect(after).not.toEqual(initial);
      } else {
        expect(after).toEqual(initial);
      }
    }
    tf.dispose([x, y]);
    disposeModel(model);
  });
});
