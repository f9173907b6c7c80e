import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { expect } from 'vitest';
import { prepareForGradientRelease, type StableAdamW, stableAdamW } from '../index.js';

const seeded = (seed: number) => tfl.initializers.glorotNormal({ seed });

/** A dense MLP with seeded initializers: `hidden` relu layers of `width`, then a linear head. */
export function mlp(seed: number, { inputs = 6, width = 16, hidden = 2, outputs = 2 } = {}): tfl.Sequential {
  const layers: tfl.layers.Layer[] = [];
  for (let i = 0; i < hidden; i++) {
    layers.push(
      tfl.layers.dense({
        units: width,
        activation: 'relu',
        kernelInitializer: seeded(seed + i),
        biasInitializer: tfl.initializers.randomNormal({ seed: seed + 100 + i, stddev: 0.1 }),
        ...(i === 0 ? { inputShape: [inputs] } : {}),
      }),
    );
  }
  layers.push(tfl.layers.dense({ units: outputs, kernelInitializer: seeded(seed + hidden) }));
  return tfl.sequential({ layers });
}

/** A functional model applying one tanh layer twice (weight sharing), then a linear head. */
export function sharedLayerModel(seed: number): tfl.LayersModel {
  const input = tfl.input({ shape: [6] });
  const shared = tfl.layers.dense({ units: 6, activation: 'tanh', kernelInitializer: seeded(seed) });
  const twice = shared.apply(shared.apply(input)) as tfl.SymbolicTensor;
  const output = tfl.layers.dense({ units: 2, kernelInitializer: seeded(seed + 1) }).apply(twice) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: output });
}

/** `rows` deterministic samples for a model with `inputs` features and `outputs` targets. */
export function samples(rows: number, inputs: number, outputs: number): { x: tf.Tensor2D; y: tf.Tensor2D } {
  return {
    x: tf.tensor2d(
      Array.from({ length: rows * inputs }, (_, i) => Math.sin(0.7 * i)),
      [rows, inputs],
    ),
    y: tf.tensor2d(
      Array.from({ length: rows * outputs }, (_, i) => Math.cos(1.3 * i)),
      [rows, outputs],
    ),
  };
}

/** Largest |a − e| − (atol + rtol·|e|) over all elements: ≤ 0 means within optimi's fp32 tolerance. */
export function maxExcess(actual: ArrayLike<number>, expected: ArrayLike<number>, atol = 1e-6, rtol = 1e-5): number {
  if (actual.length !== expected.length) return Number.POSITIVE_INFINITY;
  let worst = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i] as number;
    worst = Math.max(worst, Math.abs((actual[i] as number) - e) - (atol + rtol * Math.abs(e)));
  }
  return worst;
}

/** The values of a model's trainable weights, in order. */
export async function weightValues(model: tfl.LayersModel): Promise<Float32Array[]> {
  return Promise.all(model.trainableWeights.map(async (w) => Float32Array.from(await w.read().data())));
}

/** Frees a model's weights and its optimizer. */
export function disposeModel(model: tfl.LayersModel): void {
  model.optimizer?.dispose();
  for (const layer of model.layers) layer.dispose();
}

/** Trains `model` with `fit` (12 steps) then `trainOnBatch` (2 steps), with or without gradient release. */
async function train(model: tfl.LayersModel, release: boolean): Promise<StableAdamW> {
  const optimizer = stableAdamW({ lr: 1e-2, weightDecay: 0.05, gradientRelease: release });
  model.compile({ optimizer, loss: 'meanSquaredError' });
  if (release) prepareForGradientRelease(model, optimizer);
  const [inputs, outputs] = [model.inputs[0]?.shape[1] as number, model.outputs[0]?.shape[1] as number];
  const { x, y } = samples(32, inputs, outputs);
  await model.fit(x, y, { epochs: 3, batchSize: 8, shuffle: false, verbose: 0 });
  await model.trainOnBatch(x, y);
  await model.trainOnBatch(x, y);
  tf.dispose([x, y]);
  return optimizer;
}

/** Trains two copies of a model, with and without gradient release, and compares their weights. */
export async function compareWithPlainTraining(build: () => tfl.LayersModel): Promise<void> {
  const plain = build();
  const released = build();
  const initial = await weightValues(plain);
  const plainOptimizer = await train(plain, false);
  const releasedOptimizer = await train(released, true);
  const [expected, actual] = [await weightValues(plain), await weightValues(released)];
  expect(actual.length).toBe(expected.length);
  for (const [i, values] of actual.entries()) {
    expect(maxExcess(values, expected[i] as Float32Array)).toBeLessThanOrEqual(0);
    // Training moved every weight tensor, so the comparison is not vacuous.
    expect(maxExcess(values, initial[i] as Float32Array)).toBeGreaterThan(0);
  }
  expect(releasedOptimizer.iterations).toBe(plainOptimizer.iterations);
  // Per-variable step counters: every variable was stepped once per training step.
  const state = await releasedOptimizer.stateDict();
  for (const entry of Object.values(state.state)) expect(entry.step).toBe(14);
  disposeModel(plain);
  disposeModel(released);
}
