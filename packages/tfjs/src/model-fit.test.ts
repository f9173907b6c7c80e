import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { type NamedTensor, StableAdamW, stableAdamW } from './index.js';
import { denseModel, fitAndReplay, regressionData } from './testing/fit-replay.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('tfjs-layers model.fit', () => {
  it('model.fit matches the float64 reference replaying the same gradients', async () => {
    const run = await fitAndReplay('auto', 4);
    expect(run.steps).toBe(16);
    expect(run.losses.length).toBe(4);
    expect(run.losses[3]).toBeLessThan(run.losses[0] as number);
    expect(run.maxExcess).toBeLessThanOrEqual(0);
  });

  it('model.save() with the optimizer and loadLayersModel() resume training where it left off', async () => {
    const { x, y } = regressionData();
    const original = denseModel(11);
    original.compile({ optimizer: stableAdamW({ lr: 1e-2, weightDecay: 0.05 }), loss: 'meanSquaredError' });
    await original.fit(x, y, { epochs: 2, batchSize: 8, shuffle: false, verbose: 0 });
    let artifacts: tf.io.ModelArtifacts | undefined;
    await original.save(
      tf.io.withSaveHandler(async (saved) => {
        artifacts = saved;
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }),
      { includeOptimizer: true },
    );
    // Same process, so the reloaded variables get uniquified names: moments are matched by position.
    const loaded = (await tfl.loadLayersModel(tf.io.fromMemory(artifacts as tf.io.ModelArtifacts))) as tfl.Sequential;
    expect(loaded.optimizer).toBeInstanceOf(StableAdamW);
    expect(loaded.optimizer.getConfig()).toEqual({ lr: 1e-2, weightDecay: 0.05 });
    expect(loaded.optimizer.iterations).toBe(8);
    await original.fit(x, y, { epochs: 1, batchSize: 8, shuffle: false, verbose: 0 });
    await loaded.fit(x, y, { epochs: 1, batchSize: 8, shuffle: false, verbose: 0 });
    expect((loaded.optimizer as StableAdamW).paramGroups[0]?.step).toBe(12);
    for (const [i, w] of original.trainableWeights.entries()) {
      const resumed = loaded.trainableWeights[i] as (typeof loaded.trainableWeights)[number];
      expect(resumed.name).not.toBe(w.name);
      expect(Array.from(await resumed.read().data())).toEqual(Array.from(await w.read().data()));
    }
    tf.dispose([x, y]);
    original.optimizer.dispose();
    loaded.optimizer.dispose();
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
