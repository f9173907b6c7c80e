import '@tensorflow/tfjs-backend-cpu';
import { DynamicLossScaler, InvalidHyperparameterError, StateDictError } from '@stable-adamw/core';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { StableAdamW, stableAdamW } from './index.js';
import { denseModel, regressionData } from './testing/fit-replay.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const unique = (name: string) => `${name}_${Math.random().toString(36).slice(2)}`;

/** Steps `w` once with `grad` (already multiplied by the loss scale, as a scaled backward pass gives it). */
function stepWith(opt: StableAdamW, w: tf.Variable, grad: number[]): void {
  tf.tidy(() => opt.applyGradients({ [w.name]: tf.tensor1d(grad) }));
}

describe('tfjs getConfig / fromConfig with a lossScaler', () => {
  it('saves the scaler’s settings and current state, and fromConfig continues from them', () => {
    const w = tf.variable(tf.tensor1d([0.5, -1]), true, unique('scaled'));
    const scaler = new DynamicLossScaler({ initScale: 256, growthInterval: 3, backoffFactor: 0.25, maxScale: 2 ** 20 });
    const opt = new StableAdamW([w], { lr: 1e-2, nonFinite: 'skip', lossScaler: scaler });
    stepWith(opt, w, [Number.NaN, 1]); // skipped: 256 · 0.25 = 64, tracker back to 0
    stepWith(opt, w, [6.4, -3.2]);
    stepWith(opt, w, [1.28, 0.64]); // two clean steps: tracker 2 of 3

    const config = opt.getConfig();
    expect(config).toEqual({
      lr: 1e-2,
      nonFinite: 'skip',
      lossScaler: {
        scale: 64,
        growthFactor: 2,
        backoffFactor: 0.25,
        growthInterval: 3,
        growthTracker: 2,
        minScale: 2 ** -24,
        maxScale: 2 ** 20,
      },
    });
    // Plain JSON: what tfjs-layers writes into a saved model.
    const copy = StableAdamW.fromConfig(StableAdamW, JSON.parse(JSON.stringify(config))) as StableAdamW;
    expect(copy.lossScaler).toBeInstanceOf(DynamicLossScaler);
    expect(copy.lossScaler).not.toBe(scaler);
    expect(copy.lossScaler?.stateDict()).toEqual(scaler.stateDict());
    expect(copy.getConfig()).toEqual(config);

    // One more clean step completes the growth interval on both: 64 · 2.
    const v = tf.variable(tf.tensor1d([0.5, -1]), true, unique('copy'));
    stepWith(opt, w, [0.64, 0.64]);
    stepWith(copy, v, [0.64, 0.64]);
    expect(scaler.scale).toBe(128);
    expect(copy.lossScaler?.scale).toBe(128);
    tf.dispose([w, v]);
    opt.dispose();
    copy.dispose();
  });

  it('survives model.save() and loadLayersModel(), whose key conversion turns snake_case into camelCase', async () => {
    const { x, y } = regressionData();
    const original = denseModel(13);
    const scaler = new DynamicLossScaler({ initScale: 2 ** 10, growthInterval: 3 });
    original.compile({ optimizer: stableAdamW({ lr: 1e-2, nonFinite: 'skip', lossScaler: scaler }), loss: 'meanSquaredError' });
    await original.fit(x, y, { epochs: 1, batchSize: 8, shuffle: false, verbose: 0 });
    // 4 clean steps with growth every 3: 2^10 · 2, tracker 1.
    expect(scaler.stateDict()).toMatchObject({ scale: 2 ** 11, growth_tracker: 1 });
    let artifacts: tf.io.ModelArtifacts | undefined;
    await original.save(
      tf.io.withSaveHandler(async (saved) => {
        artifacts = saved;
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }),
      { includeOptimizer: true },
    );
    const loaded = await tfl.loadLayersModel(tf.io.fromMemory(artifacts as tf.io.ModelArtifacts));
    const restored = (loaded.optimizer as StableAdamW).lossScaler;
    expect(restored).toBeInstanceOf(DynamicLossScaler);
    expect(restored?.stateDict()).toEqual(scaler.stateDict());
    tf.dispose([x, y]);
    original.optimizer.dispose();
    loaded.optimizer.dispose();
  });

  it('refuses a lossScaler config that is not the saved object, or holds a bad setting, with a typed error', () => {
    expect(() => StableAdamW.fromConfig(StableAdamW, { lr: 1e-2, nonFinite: 'skip', lossScaler: 5 })).toThrow(
      InvalidHyperparameterError,
    );
    expect(() =>
      StableAdamW.fromConfig(StableAdamW, { lr: 1e-2, nonFinite: 'skip', lossScaler: { scale: 8, growthFactor: 0.5 } }),
    ).toThrow(/growthFactor/);
    expect(() =>
      StableAdamW.fromConfig(StableAdamW, {
        lr: 1e-2,
        nonFinite: 'skip',
        lossScaler: { scale: 8, growthInterval: 2, growthTracker: 2 },
      }),
    ).toThrow(StateDictError);
  });
});
