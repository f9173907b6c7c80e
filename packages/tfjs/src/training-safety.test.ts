import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import {
  DynamicLossScaler,
  InvalidHyperparameterError,
  InvalidParamError,
  NonFiniteGradientError,
  prepareForGradientRelease,
  StableAdamW,
  stableAdamW,
} from './index.js';
import { denseModel, regressionData } from './testing/fit-replay.js';

// The NaN/±Inf policies and loss scaling against the float64 reference run in the conformance
// suite (src/conformance.test.ts, safety cases); these are the tfjs-specific parts.

beforeAll(async () => {
  await tf.setBackend('cpu');
});

let names = 0;
const variable = (values: number[]) => tf.variable(tf.tensor1d(values), true, `safety_${names++}`);

async function weightsOf(model: tfl.Sequential): Promise<Float32Array[]> {
  return Promise.all(model.trainableWeights.map(async (w) => (await w.read().data()) as Float32Array));
}

/** `model.fit` of the seeded dense model on `x`, `y`; returns the model, its optimizer and the losses. */
async function fit(x: tf.Tensor, y: tf.Tensor, epochs: number, lossScaler?: DynamicLossScaler) {
  const model = denseModel(5);
  const optimizer = stableAdamW({ lr: 1e-2, weightDecay: 0.05, lossScaler });
  model.compile({ optimizer, loss: 'meanSquaredError' });
  const history = await model.fit(x, y, { epochs, batchSize: 8, shuffle: false, verbose: 0 });
  return { model, optimizer, losses: history.history.loss as number[] };
}

describe('non-finite gradients on tfjs', () => {
  it("'skip' reads one flag vector back per step; 'propagate' reads nothing", () => {
    const readSync = vi.spyOn(tf.backend(), 'readSync');
    for (const [nonFinite, reads] of [
      ['propagate', 0],
      ['skip', 3],
    ] as const) {
      readSync.mockClear();
      const [a, b] = [variable([1, 2, 3]), variable([4, 5])];
      const optimizer = new StableAdamW([a, b], { lr: 1e-2, nonFinite });
      const before = tf.memory().numTensors;
      for (let t = 0; t < 3; t++) {
        const grads = { [a.name]: tf.tensor1d([0.1, -0.2, t]), [b.name]: tf.tensor1d([0.5, 0.25]) };
        optimizer.applyGradients(grads);
        tf.dispose(grads);
      }
      expect(readSync).toHaveBeenCalledTimes(reads);
      // Moments of 2 variables; the flags are freed.
      expect(tf.memory().numTensors).toBe(before + 4);
      optimizer.dispose();
      tf.dispose([a, b]);
    }
    readSync.mockRestore();
  });
});

describe('minimize', () => {
  it('frees the loss and gradients it made when the step throws', async () => {
    const w = variable([1, -2, 3]);
    const optimizer = new StableAdamW([w], { lr: 1e-2, nonFinite: 'throw' });
    const clean = () => tf.sum(tf.square(w)) as tf.Scalar;
    optimizer.minimize(clean);
    const weights = Array.from(await w.data());
    const before = tf.memory().numTensors;
    const poisoned = () => tf.sum(tf.mul(w, Number.NaN)) as tf.Scalar;
    expect(() => optimizer.minimize(poisoned, true)).toThrow(NonFiniteGradientError);
    expect(tf.memory().numTensors).toBe(before);
    expect(Array.from(await w.data())).toEqual(weights);
    expect(optimizer.iterations).toBe(1);

    // With a loss scaler the unscaled loss is kept for the caller: freed too on a refused step.
    const stranger = variable([0]);
    const scaled = new StableAdamW([w], { lr: 1e-2, lossScaler: new DynamicLossScaler() });
    const beforeScaled = tf.memory().numTensors;
    const both = () => tf.add(tf.sum(w), tf.sum(stranger)) as tf.Scalar;
    expect(() => scaled.minimize(both, true, [w, stranger])).toThrow(InvalidParamError);
    expect(tf.memory().numTensors).toBe(beforeScaled);
    optimizer.dispose();
    scaled.dispose();
    tf.dispose([w, stranger]);
  });

  it('refuses missing options with the typed "lr is required" error', () => {
    const w = variable([1]);
    for (const build of [() => new StableAdamW([w], undefined as never), () => stableAdamW(undefined as never)]) {
      expect(build).toThrow(InvalidHyperparameterError);
      expect(build).toThrow(/`lr` is required/);
    }
    w.dispose();
  });
});

describe('loss scaling (Keras LossScaleOptimizer style)', () => {
  it('model.fit with a loss scaler trains bit-identically and reports the unscaled loss', async () => {
    const { x, y } = regressionData();
    const plain = await fit(x, y, 5);
    // Powers of two scale the backward pass and the kernels' unscale exactly; the scale doubles every 6 clean steps.
    const scaler = new DynamicLossScaler({ initScale: 2 ** 10, growthInterval: 6 });
    const scaled = await fit(x, y, 5, scaler);
    expect(scaled.losses).toEqual(plain.losses);
    expect(await weightsOf(scaled.model)).toEqual(await weightsOf(plain.model));
    expect(scaled.optimizer.skippedSteps).toBe(0);
    expect(scaler.scale).toBe(2 ** (10 + Math.floor(20 / 6)));
    tf.dispose([x, y]);
    plain.optimizer.dispose();
    scaled.optimizer.dispose();
  });

  it('skips the steps whose scaled backward pass overflows float32 and backs the scale off', async () => {
    const { x, y } = regressionData();
    // 2^130, 2^129 and 2^128 are Inf in float32: the first 3 steps overflow; 2^127 fits this model.
    const scaler = new DynamicLossScaler({ initScale: 2 ** 130, maxScale: 2 ** 130 });
    const scaled = await fit(x, y, 2, scaler);
    const skipped = scaled.optimizer.skippedSteps;
    expect(skipped).toBe(3);
    expect(scaler.scale).toBe(2 ** (130 - skipped));
    expect(scaled.optimizer.iterations).toBe(8);
    expect(scaled.optimizer.paramGroups[0]?.step).toBe(8 - skipped);
    expect(scaled.losses.every(Number.isFinite)).toBe(true);
    // The same training without a scaler, minus the skipped batches: identical weights.
    const rest = [x, y].map((t) => tf.slice(t, [8 * skipped, 0], [-1, -1]));
    const plain = denseModel(5);
    const optimizer = stableAdamW({ lr: 1e-2, weightDecay: 0.05 });
    plain.compile({ optimizer, loss: 'meanSquaredError' });
    await plain.fit(rest[0] as tf.Tensor, rest[1] as tf.Tensor, { epochs: 1, batchSize: 8, shuffle: false, verbose: 0 });
    await plain.fit(x, y, { epochs: 1, batchSize: 8, shuffle: false, verbose: 0 });
    expect(await weightsOf(scaled.model)).toEqual(await weightsOf(plain));
    tf.dispose([x, y, ...rest]);
    scaled.optimizer.dispose();
    optimizer.dispose();
  });

  it('is updated under gradient release by the step() that ends each minimize (see releaseScalerCases)', () => {
    const w = variable([1, 2]);
    const scaler = new DynamicLossScaler({ initScale: 8 });
    const optimizer = new StableAdamW([w], { lr: 1e-2, nonFinite: 'skip', gradientRelease: true, lossScaler: scaler });
    const release = prepareForGradientRelease([w], optimizer);
    const c = tf.tensor1d([Number.NaN, 1]);
    optimizer.minimize(() => tf.sum(tf.mul(release.read(w), c)) as tf.Scalar);
    expect([scaler.scale, optimizer.skippedSteps, optimizer.lastStepSkipped, optimizer.iterations]).toEqual([4, 1, true, 1]);
    expect(Array.from(w.dataSync())).toEqual([1, 2]);
    optimizer.dispose();
    tf.dispose([w, c]);
  });

  it('saves nonFinite in getConfig', () => {
    expect(stableAdamW({ lr: 1e-3, nonFinite: 'skip' }).getConfig()).toEqual({ lr: 1e-3, nonFinite: 'skip' });
  });
});
