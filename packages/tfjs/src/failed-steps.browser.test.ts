import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-webgl';
import '@tensorflow/tfjs-backend-webgpu';
import { StableAdamWError } from '@stable-adamw/core';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { describe, expect, it } from 'vitest';
import { type KernelChoice, StableAdamW, stableAdamW } from './index.js';
import { denseModel, regressionData } from './testing/fit-replay.js';

const unique = (tag: string) => `${tag}_${Math.random()}`;

const paths: ['cpu' | 'webgl' | 'webgpu', KernelChoice][] = [
  ['cpu', 'auto'],
  ['webgl', 'fused'],
  ['webgl', 'composed'],
  ['webgpu', 'fused'],
  ['webgpu', 'composed'],
];

describe.each(paths)('tfjs-%s (%s kernels): a non-finite gradient', (backend, kernel) => {
  it('gives [0.99, NaN, 0.99] for g = [0.1, Inf, 0.1] like every other path', async () => {
    expect(await tf.setBackend(backend)).toBe(true);
    const w = tf.variable(tf.tensor1d([1, 1, 1]), true, unique('inf'));
    const opt = new StableAdamW([w], { lr: 1e-2, weightDecay: 0, kernel });
    const g = tf.tensor1d([0.1, Number.POSITIVE_INFINITY, 0.1]);
    opt.applyGradients({ [w.name]: g });
    // Step 1: m = g, v = g², RMS = NaN (Inf/Inf), so no clip; θ − lr·0.1/(0.1 + 1e-6) and Inf/Inf = NaN.
    const [a, b, c] = Array.from(await w.data());
    expect(a).toBeCloseTo(1 - 1e-2 * (0.1 / (0.1 + 1e-6)), 6);
    expect(b).toBeNaN();
    expect(c).toBeCloseTo(1 - 1e-2 * (0.1 / (0.1 + 1e-6)), 6);
    tf.dispose([g, w]);
    opt.dispose();
  });
});

describe.each(paths.filter(([b]) => b !== 'cpu'))('tfjs-%s (%s kernels): a failed step changes nothing', (backend, kernel) => {
  it('refuses a disposed gradient with a typed error, and the next step equals a clean run', async () => {
    expect(await tf.setBackend(backend)).toBe(true);
    const run = async (fail: boolean) => {
      const a = tf.variable(tf.tensor1d([1, -2, 3]), true, unique('a'));
      const b = tf.variable(tf.tensor2d([0.5, 0.25, 1, 2], [2, 2]), true, unique('b'));
      const opt = new StableAdamW([a, b], { lr: 1e-2, kernel });
      const grads = (t: number) => ({
        [a.name]: tf.tensor1d([0.1 * t, -0.2, 0.3]),
        [b.name]: tf.tensor2d([1, t, -1, 0.5], [2, 2]),
      });
      let g = grads(1);
      opt.applyGradients(g);
      tf.dispose(g);
      if (fail) {
        g = grads(9);
        g[b.name]?.dispose();
        const before = tf.memory().numTensors;
        expect(() => opt.applyGradients(g)).toThrow(StableAdamWError);
        expect(opt.paramGroups[0]?.step).toBe(1);
        expect(tf.memory().numTensors).toBe(before);
        tf.dispose(g);
      }
      g = grads(2);
      opt.applyGradients(g);
      tf.dispose(g);
      const out = [Array.from(await a.data()), Array.from(await b.data())];
      opt.dispose();
      tf.dispose([a, b]);
      return out;
    };
    expect(await run(true)).toEqual(await run(false));
  });

  it('refuses a disposed variable with a typed error naming it', async () => {
    expect(await tf.setBackend(backend)).toBe(true);
    const a = tf.variable(tf.tensor1d([1, 2]), true, unique('gone'));
    const opt = new StableAdamW([a], { lr: 1e-2, kernel });
    const g = tf.tensor1d([1, 1]);
    a.dispose();
    expect(() => opt.applyGradients({ [a.name]: g })).toThrow(new RegExp(`${a.name}.*is disposed`));
    expect(opt.paramGroups[0]?.step).toBe(0);
    g.dispose();
    opt.dispose();
  });

  it('model.save({ includeOptimizer: true }) leaks nothing over 100 saves and saves the moments bit for bit', async () => {
    expect(await tf.setBackend(backend)).toBe(true);
    const { x, y } = regressionData();
    const model = denseModel(3);
    model.compile({ optimizer: stableAdamW({ lr: 1e-2, kernel }), loss: 'meanSquaredError' });
    await model.fit(x, y, { epochs: 1, batchSize: 8, verbose: 0 });
    let artifacts: tf.io.ModelArtifacts | undefined;
    const save = () =>
      model.save(
        tf.io.withSaveHandler(async (saved) => {
          artifacts = saved;
          return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
        }),
        { includeOptimizer: true },
      );
    await save();
    const after1 = tf.memory().numTensors;
    for (let i = 0; i < 99; i++) await save();
    expect(tf.memory().numTensors).toBe(after1);
    const loaded = await tfl.loadLayersModel(tf.io.fromMemory(artifacts as tf.io.ModelArtifacts));
    const [original, reloaded] = [model.optimizer as StableAdamW, loaded.optimizer as StableAdamW];
    // Resuming from these weights is checked step for step in model-fit.test.ts.
    const saved = await original.getWeights();
    const restored = artifacts?.weightData as ArrayBuffer;
    expect(restored.byteLength).toBeGreaterThan(0);
    const values = await Promise.all(saved.map(async (w) => Array.from(await w.tensor.data())));
    const decoded = tf.io.decodeWeights(restored, artifacts?.weightSpecs ?? []);
    const optimizerWeights = saved.map((w) => Array.from(decoded[w.name]?.dataSync() ?? []));
    expect(optimizerWeights).toEqual(values);
    expect(reloaded).toBeInstanceOf(StableAdamW);
    tf.dispose([x, y, ...Object.values(decoded)]);
    original.dispose();
    reloaded.dispose();
  });
});

describe('tfjs-webgl: a variable larger than one texture', () => {
  it('is refused at construction with the limit and the fix, before any state exists', async () => {
    expect(await tf.setBackend('webgl')).toBe(true);
    const big = tf.variable(tf.tensor2d(new Float32Array(70_000_000), [1, 70_000_000]), true, unique('huge'));
    const before = tf.memory().numTensors;
    expect(() => new StableAdamW([big], { lr: 1e-3 })).toThrow(/huge.*maxTextureSize \d+.*Split the variable/);
    expect(tf.memory().numTensors).toBe(before);
    big.dispose();
  });
});
