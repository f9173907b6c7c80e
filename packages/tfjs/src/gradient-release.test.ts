import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { ReferenceStableAdamW, resolveOptions } from '@stable-adamw/core/adapter';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { InvalidParamError, prepareForGradientRelease, removeGradientRelease, StableAdamW, stableAdamW } from './index.js';
import { releaseScalerCases, releaseSkipCases } from './kernels/device-skip-cases.js';
import { type PeakBytes, peakBytesDuring } from './testing/peak-bytes.js';
import {
  compareWithPlainTraining,
  disposeModel,
  maxExcess,
  mlp,
  samples,
  sharedLayerModel,
  weightValues,
} from './testing/release-models.js';

const wasmDir = `${dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm'))}/`;
const unique = (name: string) => `${name}_${Math.random().toString(36).slice(2)}`;

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`gradient release on tfjs-${backend}`, () => {
    beforeAll(async () => {
      if (backend === 'wasm') setWasmPaths(wasmDir);
      expect(await tf.setBackend(backend)).toBe(true);
      await tf.ready();
    });

    it('model.fit and trainOnBatch give the weights of training without it (fp32 tolerance)', async () => {
      await compareWithPlainTraining(() => mlp(21));
    });

    it('a layer applied twice (weight sharing) is stepped once with the sum of its gradients', async () => {
      await compareWithPlainTraining(() => sharedLayerModel(31));
    });

    // One flags read per 'skip' call (host memory on both).
    releaseSkipCases(backend, { readSyncsPerCall: 1 });
    releaseScalerCases(backend, 1);
  });
}

describe('gradient release with plain variables on tfjs-cpu', () => {
  beforeAll(async () => {
    expect(await tf.setBackend('cpu')).toBe(true);
  });

  it('optimizer accumulation through the hooks matches the float64 reference, with per-variable steps and current lr', async () => {
    const w0 = Array.from({ length: 12 }, (_, i) => Math.sin(i + 1));
    const b0 = [0.5, -0.25, 1, 0];
    const w = tf.variable(tf.tensor2d(w0, [3, 4]), true, unique('acc_w'));
    const b = tf.variable(tf.tensor1d(b0), true, unique('acc_b'));
    const opt = new StableAdamW(
      [
        { params: [w], weightDecay: 0.1 },
        { params: [b], weightDecay: 0 },
      ],
      { lr: 0.05, gradientRelease: true },
    );
    const release = prepareForGradientRelease([w, b], opt);
    const reference = new ReferenceStableAdamW(
      [w0, b0],
      [
        { params: [0], hyperparameters: resolveOptions({ lr: 0.05, weightDecay: 0.1, gradientRelease: true }) },
        { params: [1], hyperparameters: resolveOptions({ lr: 0.05, weightDecay: 0, gradientRelease: true }) },
      ],
      'float32',
    );
    // d/dθ Σ c⊙θ = c: the gradients are known exactly (in float32) without running backprop.
    const coefficients = (t: number, n: number, phase: number) =>
      Float32Array.from({ length: n }, (_, i) => Math.cos(t * 1.7 + i * phase) * (1 + (t % 3)));
    const K = 3;
    for (let t = 0; t < 12; t++) {
      const accumulate = (t + 1) % K !== 0;
      const lr = 0.05 * (1 - t / 24);
      for (const [g, group] of opt.paramGroups.entries()) {
        group.lr = lr;
        (reference.groups[g] as { hyperparameters: { lr: number } }).hyperparameters.lr = lr;
      }
      opt.accumulate = accumulate;
      const [cw, cb1, cb2] = [coefficients(t, 12, 0.3), coefficients(t, 4, 1.1), coefficients(t + 5, 4, 0.7)];
      const dot = (c: Float32Array, shape: number[], v: tf.Tensor) => tf.sum(tf.mul(tf.tensor(c, shape), v));
      // b is read twice: its gradient is cb1 + cb2.
      opt.minimize(
        () =>
          tf.tidy(() =>
            tf.addN([dot(cw, [3, 4], release.read(w)), dot(cb1, [4], release.read(b)), dot(cb2, [4], release.read(b))]),
          ) as tf.Scalar,
      );
      reference.stepParam(0, cw, accumulate);
      reference.stepParam(
        1,
        cb1.map((c, i) => Math.fround(c + (cb2[i] as number))),
        accumulate,
      );
    }
    expect(maxExcess(await w.data(), reference.params[0] as Float64Array)).toBeLessThanOrEqual(0);
    expect(maxExcess(await b.data(), reference.params[1] as Float64Array)).toBeLessThanOrEqual(0);
    const state = await opt.stateDict();
    for (const [i, entry] of Object.entries(state.state)) {
      const expected = reference.state[Number(i)];
      expect(entry.step).toBe(12);
      expect(maxExcess(entry.exp_avg.map(Number), expected?.expAvg as Float64Array)).toBeLessThanOrEqual(0);
      expect(maxExcess(entry.exp_avg_sq.map(Number), expected?.expAvgSq as Float64Array)).toBeLessThanOrEqual(0);
    }
    // The parameters moved: accumulation steps are moment-only, the others update.
    expect(maxExcess(await w.data(), w0)).toBeGreaterThan(0);
    opt.dispose();
    tf.dispose([w, b]);
  });

  it("nonFinite: 'skip' through the hooks drops the call of the variable with a NaN gradient alone, freeing it", async () => {
    const [w0, b0] = [
      [0.5, -0.25, 1],
      [2, -1],
    ];
    const w = tf.variable(tf.tensor1d(w0), true, unique('skip_w'));
    const b = tf.variable(tf.tensor1d(b0), true, unique('skip_b'));
    const opt = new StableAdamW([w, b], { lr: 0.1, gradientRelease: true, nonFinite: 'skip' });
    const release = prepareForGradientRelease([w, b], opt);
    const c = Float32Array.from([0.3, -2, 0.01]);
    const minimize = (d: number[]) =>
      opt.minimize(() =>
        tf.tidy(() => tf.add(tf.sum(tf.mul(tf.tensor1d(c), release.read(w))), tf.sum(tf.mul(tf.tensor1d(d), release.read(b))))),
      );
    minimize([Number.NaN, 1]);
    const tensors = tf.memory().numTensors;
    minimize([1, Number.POSITIVE_INFINITY]);
    expect(tf.memory().numTensors).toBe(tensors);
    const reference = new ReferenceStableAdamW(
      [w0],
      [{ params: [0], hyperparameters: resolveOptions({ lr: 0.1, gradientRelease: true }) }],
      'float32',
    );
    reference.stepParam(0, c);
    reference.stepParam(0, c);
    expect(maxExcess(await w.data(), reference.params[0] as Float64Array)).toBeLessThanOrEqual(0);
    expect(Array.from(await b.data())).toEqual(b0);
    expect(opt.skippedSteps).toBe(2);
    const state = await opt.stateDict();
    expect([state.state[0]?.step, state.state[1]?.step ?? 0, state.skipped_steps]).toEqual([2, 0, 2]);
    opt.dispose();
    tf.dispose([w, b]);
  });

  it('a read that does not reach the loss adds nothing: the variable is stepped after backprop with the rest', async () => {
    const w0 = [0.5, -0.25, 1];
    const w = tf.variable(tf.tensor1d(w0), true, unique('pruned_w'));
    const opt = new StableAdamW([w], { lr: 0.1, gradientRelease: true });
    const release = prepareForGradientRelease([w], opt);
    const c = Float32Array.from([0.3, -2, 0.01]);
    opt.minimize(() => {
      tf.square(release.read(w)); // read, but not part of the loss
      return tf.sum(tf.mul(tf.tensor1d(c), release.read(w))) as tf.Scalar;
    });
    const reference = new ReferenceStableAdamW(
      [w0],
      [{ params: [0], hyperparameters: resolveOptions({ lr: 0.1, gradientRelease: true }) }],
      'float32',
    );
    reference.stepParam(0, c);
    expect(maxExcess(await w.data(), reference.params[0] as Float64Array)).toBeLessThanOrEqual(0);
    expect((await opt.stateDict()).state[0]?.step).toBe(1);
    opt.dispose();
    w.dispose();
  });
});

describe('gradient release memory and lifecycle on tfjs-cpu', () => {
  beforeAll(async () => {
    expect(await tf.setBackend('cpu')).toBe(true);
  });

  it('frees each gradient in its hook: peak memory of a training step drops by the gradients of the other large layers', async () => {
    const shape = { inputs: 64, width: 256, hidden: 4, outputs: 4 };
    const { x, y } = samples(1, shape.inputs, shape.outputs);
    const peaks: Record<'plain' | 'released', PeakBytes> = {} as never;
    for (const mode of ['plain', 'released'] as const) {
      const model = mlp(41, shape);
      // The same kernels both ways (gradient release runs the composed ops on cpu), so the peaks
      // differ only by when gradients are freed.
      const optimizer = stableAdamW({ lr: 1e-3, gradientRelease: mode === 'released', kernel: 'composed' });
      model.compile({ optimizer, loss: 'meanSquaredError' });
      if (mode === 'released') prepareForGradientRelease(model, optimizer);
      await model.trainOnBatch(x, y); // creates the moments
      peaks[mode] = await peakBytesDuring(() => model.trainOnBatch(x, y));
      disposeModel(model);
    }
    // Relu layers backprop through unfused matMuls, so each gradient is its own buffer: with
    // gradient release at most one of them is alive (plus what its step allocates, as without).
    const reluGradients = mlp(41, shape)
      .trainableWeights.slice(0, 2 * shape.hidden)
      .map((w) => w.read().size * 4);
    const gradientSaving = reluGradients.reduce((a, b) => a + b, 0) - Math.max(...reluGradients);
    // What the hooks run next to and plain training has freed by then: activations saved for
    // backprop and their gradients, which tfjs frees when backprop ends (8 per layer is generous).
    const activations = 8 * (shape.hidden + 1) * shape.width * 4;
    console.log(
      `peak above the step's start, bytes: plain ${JSON.stringify(peaks.plain)}, gradient release ${JSON.stringify(peaks.released)}; relu-layer gradients but the largest: ${gradientSaving}, activation allowance: ${activations}`,
    );
    expect(peaks.plain.buffers - peaks.released.buffers).toBeGreaterThanOrEqual(gradientSaving - activations);
    tf.dispose([x, y]);
  });

  it('leaks no tensors over many steps, and removeGradientRelease frees what prepare made', async () => {
    const before = tf.memory().numTensors;
    const model = mlp(51);
    const optimizer = stableAdamW({ lr: 1e-3, gradientRelease: true });
    model.compile({ optimizer, loss: 'meanSquaredError' });
    const { x, y } = samples(8, 6, 2);
    await model.trainOnBatch(x, y); // plain step: creates the moments
    const plain = tf.memory().numTensors;
    prepareForGradientRelease(model, optimizer);
    expect(tf.memory().numTensors).toBe(plain + 1); // the anchor
    for (let i = 0; i < 5; i++) await model.trainOnBatch(x, y);
    const settled = tf.memory().numTensors;
    for (let i = 0; i < 20; i++) await model.trainOnBatch(x, y);
    await model.fit(x, y, { epochs: 2, batchSize: 4, verbose: 0 });
    expect(tf.memory().numTensors).toBe(settled);
    removeGradientRelease(model);
    expect(tf.memory().numTensors).toBe(plain);
    tf.dispose([x, y]);
    disposeModel(model);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('prepare hooks each LayerVariable read, remove restores the original reads and plain training', async () => {
    const model = mlp(61);
    const optimizer = stableAdamW({ lr: 1e-3, gradientRelease: true });
    model.compile({ optimizer, loss: 'meanSquaredError' });
    const weights = model.trainableWeights;
    const prototypeRead = Object.getPrototypeOf(weights[0]).read;
    const variables = weights.map((w) => w.read());
    const release = prepareForGradientRelease(model, optimizer);
    expect(release.variables).toEqual(variables);
    expect(release.optimizer).toBe(optimizer);
    for (const [i, w] of weights.entries()) {
      expect(Object.hasOwn(w, 'read')).toBe(true);
      // Outside a training step a read is the variable itself (predict, save, getWeights).
      expect(w.read()).toBe(variables[i]);
      expect(release.read(variables[i] as tf.Variable)).toBe(variables[i]);
    }
    const { x, y } = samples(8, 6, 2);
    const applied = vi.spyOn(optimizer, 'applyGradients');
    const snapshot = await weightValues(model);
    await model.trainOnBatch(x, y);
    expect(applied).not.toHaveBeenCalled();
    expect(maxExcess(await weightValues(model).then((w) => w[0] as Float32Array), snapshot[0] as Float32Array)).toBeGreaterThan(
      0,
    );
    // A plain step afterwards has no gradients to apply: released variables are left alone.
    const released = await weightValues(model);
    optimizer.applyGradients({});
    expect(await weightValues(model)).toEqual(released);

    removeGradientRelease(release);
    for (const w of weights) {
      expect(Object.hasOwn(w, 'read')).toBe(false);
      expect(w.read).toBe(prototypeRead);
    }
    expect(() => release.read(variables[0] as tf.Variable)).toThrow(InvalidParamError);
    await model.trainOnBatch(x, y);
    expect(applied).toHaveBeenCalledTimes(2); // the plain step above and this one
    // Prepared again, it trains through the hooks again.
    prepareForGradientRelease(model, optimizer);
    await model.trainOnBatch(x, y);
    expect(applied).toHaveBeenCalledTimes(2);
    applied.mockRestore();
    // Disposing the optimizer removes gradient release (and its anchor) too.
    const tensors = tf.memory().numTensors;
    const moments = 2 * weights.length;
    optimizer.dispose();
    for (const w of weights) expect(Object.hasOwn(w, 'read')).toBe(false);
    expect(tf.memory().numTensors).toBe(tensors - moments - 1); // the moments and the anchor
    expect(() => removeGradientRelease(model)).toThrow(/has no gradient release prepared/);
    tf.dispose([x, y]);
    disposeModel(model);
  });

  it('rejects bad inputs with typed errors that name the fix, changing nothing', async () => {
    const model = mlp(71);
    const withoutRelease = stableAdamW({ lr: 1e-3 });
    const expectUnhooked = () => {
      for (const w of model.trainableWeights) expect(Object.hasOwn(w, 'read')).toBe(false);
    };
    const fails = (fn: () => unknown, message: RegExp) => {
      expect(fn).toThrow(InvalidParamError);
      expect(fn).toThrow(message);
    };
    fails(() => prepareForGradientRelease(model, withoutRelease), /without gradientRelease.*gradientRelease: true/);
    fails(() => prepareForGradientRelease(model, tf.train.adam(0.1) as never), /is not a StableAdamW/);
    const other = tf.variable(tf.zeros([2, 2]), true, unique('other'));
    const managesOther = new StableAdamW([other], { lr: 1e-3, gradientRelease: true });
    fails(() => prepareForGradientRelease(model, managesOther), /is not managed by this optimizer.*Construct the optimizer/);
    fails(() => prepareForGradientRelease([], managesOther), /has no trainable variables/);
    fails(() => prepareForGradientRelease([other, other], managesOther), /appears twice/);
    fails(() => prepareForGradientRelease({} as never, managesOther), /Pass a tf.LayersModel/);
    fails(() => removeGradientRelease(model), /has no gradient release prepared/);
    expectUnhooked();
    expect(managesOther.paramGroups[0]?.params).toEqual([other]);

    const optimizer = stableAdamW({ lr: 1e-3, gradientRelease: true });
    prepareForGradientRelease(model, optimizer);
    fails(() => prepareForGradientRelease(model, stableAdamW({ lr: 1e-3, gradientRelease: true })), /already prepared/);
    fails(() => prepareForGradientRelease([other], optimizer), /already has gradient release prepared/);
    fails(() => removeGradientRelease(model.trainableWeights.slice(1).map((w) => w.read() as tf.Variable)), /not the set/);
    const release = prepareForGradientRelease([other], managesOther);
    fails(() => release.read(model.trainableWeights[0]?.read() as tf.Variable), /is not prepared for gradient release/);
    fails(() => managesOther.minimize(() => tf.scalar(1)), /reads none of the gradient-release variables/);
    fails(
      () =>
        managesOther.minimize(() => tf.sum(release.read(other)) as tf.Scalar, false, [
          model.trainableWeights[0]?.read() as tf.Variable,
        ]),
      /varList\[0\].*not prepared/,
    );
    removeGradientRelease([other]);
    removeGradientRelease(model);
    expectUnhooked();
    for (const opt of [withoutRelease, managesOther, optimizer]) opt.dispose();
    other.dispose();
    disposeModel(model);
  });
});
