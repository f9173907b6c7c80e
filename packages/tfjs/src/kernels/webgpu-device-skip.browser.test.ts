import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-webgpu';
// tfjs-layers registers the gradients minimize needs (and is pre-bundled for the browser project).
import '@tensorflow/tfjs-layers';
import { UnsupportedBackendError } from '@stable-adamw/core';
import { ReferenceStableAdamW, type ReferenceTensorState, resolveOptions } from '@stable-adamw/core/adapter';
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { StableAdamW, type TfjsStableAdamWOptions } from '../index.js';
import { seededValues as values } from '../testing/seeded-values.js';
import {
  excess,
  referenceOf,
  releaseScalerCases,
  releaseSkipCases,
  SKIP_OPTIONS,
  sharedDeviceSkipCases,
  skipModel,
  skippedCallCases,
  unique,
} from './device-skip-cases.js';

// nonFinite: 'skip' on tfjs-webgpu's fused multi-tensor step, decided on the device.

const OPTIONS = SKIP_OPTIONS;
const model = (sizes: readonly number[], options: TfjsStableAdamWOptions = OPTIONS) => skipModel(sizes, options);

/** Dispatches recorded while `fn` runs. */
function dispatches(fn: () => void): number {
  const spy = vi.spyOn(GPUComputePassEncoder.prototype, 'dispatchWorkgroups');
  try {
    fn();
    return spy.mock.calls.length;
  } finally {
    spy.mockRestore();
  }
}

describe("tfjs-webgpu nonFinite: 'skip' decided on the device", () => {
  afterEach(() => vi.restoreAllMocks());

  it('skips the steps with NaN/±Inf gradients exactly, with no readback and no leak', async () => {
    expect(await tf.setBackend('webgpu')).toBe(true);
    // 300_001 elements: more than 4096 × 64, so the per-tensor block cap applies.
    const sizes = [1, 3, 1025, 4097, 300_001];
    const m = model(sizes);
    expect(m.opt.kernelPath).toBe('webgpu-multi-tensor');
    const reference = referenceOf(sizes);
    const bad: Record<number, { at: number; value: number }> = {
      1: { at: 4, value: Number.NaN },
      3: { at: 0, value: Number.POSITIVE_INFINITY },
      4: { at: 2, value: Number.NEGATIVE_INFINITY },
    };
    m.step(0);
    reference.step(sizes.map((_, i) => m.gradient(0, i)));
    await m.opt.settled();
    const before = tf.memory();
    const engine = tf.backend();
    const readSync = vi.spyOn(engine, 'readSync');
    const read = vi.spyOn(engine, 'read');
    for (let t = 1; t < 8; t++) {
      m.step(t, bad[t]);
      if (!bad[t]) reference.step(sizes.map((_, i) => m.gradient(t, i)));
    }
    expect(readSync).not.toHaveBeenCalled();
    expect(read).not.toHaveBeenCalled();
    expect(tf.memory().numTensors).toBe(before.numTensors);
    expect(tf.memory().numBytes).toBe(before.numBytes);
    await m.opt.settled();
    expect([m.opt.paramGroups[0]?.step, m.opt.skippedSteps, m.opt.lastStepSkipped]).toEqual([5, 3, false]);
    m.step(8, { at: 1, value: Number.NaN });
    await m.opt.settled();
    expect([m.opt.paramGroups[0]?.step, m.opt.skippedSteps, m.opt.lastStepSkipped]).toEqual([5, 4, true]);
    const sd = await m.opt.stateDict();
    const states = Object.values(sd.state);
    const expected = reference.state.map((s) => s as ReferenceTensorState);
    expect(excess(await Promise.all(m.vars.map((v) => v.data())), reference.params)).toBeLessThanOrEqual(0);
    expect(
      excess(
        states.map((s) => s.exp_avg as number[]),
        expected.map((s) => s.expAvg),
      ),
    ).toBeLessThanOrEqual(0);
    expect(
      excess(
        states.map((s) => s.exp_avg_sq as number[]),
        expected.map((s) => s.expAvgSq),
      ),
    ).toBeLessThanOrEqual(0);
    expect(sd.skipped_steps).toBe(4);
    m.dispose();
  });

  it('runs 3 dispatches per step, for 4 tensors and for 512', async () => {
    expect(await tf.setBackend('webgpu')).toBe(true);
    const counts: number[] = [];
    for (const sizes of [[4096, 4096, 4096, 4096], Array.from({ length: 512 }, (_, i) => 32 + (i % 7) * 100)]) {
      const m = model(sizes);
      m.step(0);
      const grads = m.vars.map((v, i) => ({
        name: v.name,
        tensor: tf.tensor1d(m.gradient(1, i, i === 1 ? Number.NaN : undefined)),
      }));
      counts.push(dispatches(() => m.opt.applyGradients(grads)));
      tf.dispose(grads.map((g) => g.tensor));
      await m.opt.settled();
      expect(m.opt.skippedSteps).toBe(1);
      m.dispose();
    }
    expect(counts).toEqual([3, 3]);
  });

  it("refuses 'throw' and the composed kernels with a typed error, before anything changes", async () => {
    expect(await tf.setBackend('webgpu')).toBe(true);
    for (const options of [
      { lr: 1e-2, nonFinite: 'throw' },
      { lr: 1e-2, nonFinite: 'skip', kernel: 'composed' },
    ] as TfjsStableAdamWOptions[]) {
      const m = model([10], options);
      expect(() => m.step(0)).toThrow(UnsupportedBackendError);
      expect(m.opt.paramGroups[0]?.step).toBe(0);
      expect(Array.from(await (m.vars[0] as tf.Variable).data())).toEqual(Array.from(values(10, 1, 1)));
      m.dispose();
    }
    const v = tf.variable(tf.tensor1d([1, 2]), true, unique('release'));
    const opt = new StableAdamW([v], { lr: 1e-2, nonFinite: 'skip', gradientRelease: true, kernel: 'composed' });
    const g = tf.tensor1d([1, 1]);
    expect(() => opt.stepParam(v, g)).toThrow(/stepParam/);
    expect(Array.from(await v.data())).toEqual([1, 2]);
    opt.dispose();
    tf.dispose([v, g]);
  });

  it('runs stepParam under skip in the same 3 dispatches as without it, reading the counters back asynchronously', async () => {
    expect(await tf.setBackend('webgpu')).toBe(true);
    const counts: number[] = [];
    for (const nonFinite of ['skip', 'propagate'] as const) {
      const v = tf.variable(tf.tensor1d(values(5000, 3, 1)), true, unique('release'));
      const opt = new StableAdamW([v], { lr: 1e-2, nonFinite, gradientRelease: true });
      const g = tf.tensor1d(values(5000, 4, 1));
      opt.stepParam(v, g);
      const mapAsync = vi.spyOn(GPUBuffer.prototype, 'mapAsync');
      counts.push(dispatches(() => opt.stepParam(v, g)));
      expect(mapAsync).toHaveBeenCalledTimes(nonFinite === 'skip' ? 1 : 0);
      mapAsync.mockRestore();
      await opt.settled();
      expect((await opt.stateDict()).state[0]?.step).toBe(2);
      opt.dispose();
      tf.dispose([v, g]);
    }
    expect(counts).toEqual([3, 3]);
  });

  it("steps a 'propagate' group's variables on the device too, so no call waits for the read-back", async () => {
    expect(await tf.setBackend('webgpu')).toBe(true);
    const init = [values(50, 61, 1), values(9, 62, 1)];
    const [a, b] = init.map((x) => tf.variable(tf.tensor1d(x), true, unique('mixed'))) as [tf.Variable, tf.Variable];
    const options = { lr: 1e-2, nonFinite: 'skip', gradientRelease: true } as const;
    const opt = new StableAdamW([{ params: [a] }, { params: [b], nonFinite: 'propagate' }], options);
    const reference = new ReferenceStableAdamW(
      init,
      [
        { params: [0], hyperparameters: resolveOptions(options) },
        { params: [1], hyperparameters: resolveOptions({ ...options, nonFinite: 'propagate' }) },
      ],
      'float32',
    );
    for (let t = 0; t < 4; t++) {
      const [ga, gb] = [values(50, 70 + t, 1), values(9, 80 + t, 1)];
      if (t === 1) ga[3] = Number.NaN;
      else reference.stepParam(0, ga);
      reference.stepParam(1, gb);
      const grads = [tf.tensor1d(ga), tf.tensor1d(gb)];
      opt.stepParam(a, grads[0] as tf.Tensor);
      opt.stepParam(b, grads[1] as tf.Tensor);
      tf.dispose(grads);
    }
    await opt.settled();
    expect([opt.skippedSteps, opt.lastStepSkipped]).toEqual([1, false]);
    expect(Object.values((await opt.stateDict()).state).map((s) => s.step)).toEqual([3, 4]);
    expect(excess(await Promise.all([a.data(), b.data()]), reference.params)).toBeLessThanOrEqual(0);
    opt.dispose();
    tf.dispose([a, b]);
  });

  sharedDeviceSkipCases('webgpu');

  // Gradient release decided on the device: no synchronous readback in stepParam.
  releaseSkipCases('webgpu', { readSyncsPerCall: 0, dispatchesPerCall: 3 });

  // A loss scaler under gradient release: core's step() without gradients ends each iteration.
  releaseScalerCases('webgpu', 0);
  skippedCallCases('webgpu');
});
