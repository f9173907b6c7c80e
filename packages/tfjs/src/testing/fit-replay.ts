import { ReferenceStableAdamW, resolveOptions } from '@stable-adamw/core/adapter';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { vi } from 'vitest';
import { type KernelChoice, stableAdamW } from '../index.js';

/** A small dense model with seeded initializers. */
export function denseModel(seed: number): tfl.Sequential {
  return tfl.sequential({
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
}

/** 32 samples of 3 features and one target. */
export function regressionData(): { x: tf.Tensor2D; y: tf.Tensor2D } {
  return {
    x: tf.tensor2d(
      Array.from({ length: 32 * 3 }, (_, i) => Math.sin(i)),
      [32, 3],
    ),
    y: tf.tensor2d(
      Array.from({ length: 32 }, (_, i) => Math.cos(i)),
      [32, 1],
    ),
  };
}

export interface FitReplay {
  /** Optimizer steps model.fit took. */
  steps: number;
  /** Epoch losses reported by model.fit. */
  losses: number[];
  /** Largest |tfjs − reference| over all weights, and the largest excess over 1e-6 + 1e-5·|reference| (≤ 0: within fp32 tolerance). */
  maxAbsError: number;
  maxExcess: number;
}

/**
 * Trains a model with `model.fit` on the active tfjs backend, records every step's gradients and
 * replays them on the float64 reference (float32 storage), then compares the weights.
 */
export async function fitAndReplay(kernel: KernelChoice, epochs: number): Promise<FitReplay> {
  const options = { lr: 1e-2, weightDecay: 0.05 };
  const m = denseModel(7);
  const opt = stableAdamW({ ...options, kernel });
  m.compile({ optimizer: opt, loss: 'meanSquaredError' });
  const variables = m.trainableWeights.map((w) => w.read() as tf.Variable);
  const reference = new ReferenceStableAdamW(
    await Promise.all(variables.map((w) => w.data())),
    [{ params: variables.map((_, i) => i), hyperparameters: resolveOptions(options) }],
    'float32',
  );
  // Keep each step's gradients on the device (no synchronous reads: WebGPU's readSync is not reliable
  // on SwiftShader) and replay them on the reference after fit.
  const recorded: (tf.Tensor | null)[][] = [];
  const apply = opt.applyGradients.bind(opt);
  const replay = vi.spyOn(opt, 'applyGradients').mockImplementation((grads) => {
    const named = Array.isArray(grads) ? Object.fromEntries(grads.map((g) => [g.name, g.tensor])) : grads;
    recorded.push(variables.map((v) => (named[v.name] ? tf.keep(tf.clone(named[v.name] as tf.Tensor)) : null)));
    apply(grads);
  });
  const { x, y } = regressionData();
  const fit = await m.fit(x, y, { epochs, batchSize: 8, shuffle: false, verbose: 0 });
  for (const grads of recorded) {
    reference.step(await Promise.all(grads.map((g) => g?.data() ?? null)));
    tf.dispose(grads.filter((g): g is tf.Tensor => g !== null));
  }
  let maxAbsError = 0;
  let maxExcess = Number.NEGATIVE_INFINITY;
  for (const [i, v] of variables.entries()) {
    const actual = await v.data();
    const expected = reference.params[i] as Float64Array;
    for (let j = 0; j < expected.length; j++) {
      const e = expected[j] as number;
      const diff = Math.abs((actual[j] as number) - e);
      maxAbsError = Math.max(maxAbsError, diff);
      maxExcess = Math.max(maxExcess, diff - (1e-6 + 1e-5 * Math.abs(e)));
    }
  }
  const steps = replay.mock.calls.length;
  replay.mockRestore();
  tf.dispose([x, y]);
  opt.dispose();
  m.layers.forEach((layer) => {
    layer.dispose();
  });
  return { steps, losses: (fit.history.loss ?? []) as number[], maxAbsError, maxExcess };
}
