import '@tensorflow/tfjs-backend-cpu';
import { StableAdamW as CpuStableAdamW } from '@stable-adamw/cpu';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { type NamedTensor, StableAdamW, stableAdamW } from './index.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function model(seed: number): tfl.Sequential {
  const m = tfl.sequential({
    layers: [
      tfl.layers.dense({
        units: 6,
        inputShape: [3],
        activation: 'tanh',
        kernelInitializer: tfl.initializers.glorotNormal({ seed }),
      }),
      tfl.layers.dense({ units: 1, kernelInitializer: tfl.initializers.glorotNormal({ seed: seed + 1 }) }),
    ],
  });
  return m;
}

const xs = () =>
  tf.tensor2d(
    Array.from({ length: 32 * 3 }, (_, i) => Math.sin(i)),
    [32, 3],
  );
const ys = () =>
  tf.tensor2d(
    Array.from({ length: 32 }, (_, i) => Math.cos(i)),
    [32, 1],
  );

describe('tfjs-layers model.fit', () => {
  it('matches the cpu adapter fed the same gradients', async () => {
    const m = model(7);
    const opt = stableAdamW({ lr: 1e-2, weightDecay: 0.05 });
    m.compile({ optimizer: opt, loss: 'meanSquaredError' });
    const weights = m.trainableWeights.map((w) => w.read());
    // Replay: the same variables, the same gradients, the cpu adapter in float32.
    const cpuParams = await Promise.all(
      weights.map(async (w) => ({ data: Float32Array.from(await w.data()), grad: null as Float32Array | null, shape: w.shape })),
    );
    const cpu = new CpuStableAdamW(cpuParams, { lr: 1e-2, weightDecay: 0.05 });
    const x = xs();
    const y = ys();
    for (let epoch = 0; epoch < 5; epoch++) {
      const { grads } = tf.variableGrads(() => tf.mean(tfl.metrics.meanSquaredError(y, m.predict(x) as tf.Tensor)) as tf.Scalar);
      for (const [i, w] of m.trainableWeights.entries())
        (cpuParams[i] as { grad: Float32Array | null }).grad = (await grads[w.originalName]?.data()) as Float32Array;
      cpu.step();
      opt.applyGradients(grads);
      tf.dispose(grads);
    }
    for (const [i, w] of m.trainableWeights.entries()) {
      const actual = await w.read().data();
      const expected = (cpuParams[i] as { data: Float32Array }).data;
      for (let j = 0; j < expected.length; j++)
        expect(Math.abs((actual[j] as number) - (expected[j] as number))).toBeLessThanOrEqual(
          1e-6 + 1e-5 * Math.abs(expected[j] as number),
        );
    }
    const fit = await m.fit(x, y, { epochs: 3, batchSize: 8, verbose: 0 });
    expect(fit.history.loss?.length).toBe(3);
    tf.dispose([x, y]);
    opt.dispose();
  });

  it('saves its weights with getWeights and resumes bit-identically with setWeights', async () => {
    const a = tf.variable(tf.tensor1d([1, -2, 3]), true, `resume_a_${Math.random()}`);
    const b = tf.variable(tf.tensor1d([0.5, 0.25, 1, 2]), true, `resume_b_${Math.random()}`);
    const grads = (t: number) => ({ [a.name]: tf.tensor1d([0.1 * t, -0.2, 0.3]), [b.name]: tf.tensor1d([1, t, -1, 0.5]) });
    const first = new StableAdamW([a, b], { lr: 1e-2 });
    for (let t = 1; t <= 3; t++) {
      const g = grads(t);
      first.applyGradients(g);
      tf.dispose(g);
    }
    const saved: NamedTensor[] = await first.getWeights();
    const snapshot = [Float32Array.from(await a.data()), Float32Array.from(await b.data())];
    const resumed = stableAdamW({ lr: 1e-2 });
    await resumed.setWeights(saved);
    const g4 = grads(4);
    first.applyGradients(g4);
    const afterFirst = [Float32Array.from(await a.data()), Float32Array.from(await b.data())];
    a.assign(tf.tensor1d(snapshot[0] as Float32Array));
    b.assign(tf.tensor1d(snapshot[1] as Float32Array));
    resumed.applyGradients(g4);
    expect(Float32Array.from(await a.data())).toEqual(afterFirst[0]);
    expect(Float32Array.from(await b.data())).toEqual(afterFirst[1]);
    expect(resumed.iterations).toBe(4);
    tf.dispose([g4, saved.map((w) => w.tensor)]);
    first.dispose();
    resumed.dispose();
  });

  it('serializes its config and rejects non-float32 variables', () => {
    const opt = stableAdamW({ lr: 3e-4, betas: [0.9, 0.95], kernel: 'composed' });
    expect(opt.getConfig()).toEqual({ lr: 3e-4, betas: [0.9, 0.95], kernel: 'composed' });
    const copy = StableAdamW.fromConfig(StableAdamW, opt.getConfig());
    expect(copy.getConfig()).toEqual(opt.getConfig());
    expect(tf.serialization.SerializationMap.getMap().classNameMap.StableAdamW).toBeDefined();
    const ints = tf.variable(tf.tensor1d([1, 2], 'int32'), true, `int_${Math.random()}`);
    expect(() => new StableAdamW([ints], { lr: 1 })).toThrow(/has dtype int32/);
    ints.dispose();
  });
});
