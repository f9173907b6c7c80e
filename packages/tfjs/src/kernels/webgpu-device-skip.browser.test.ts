import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-webgpu';
// tfjs-layers registers the gradients minimize needs (and is pre-bundled for the browser project).
import '@tensorflow/tfjs-layers';
import { DynamicLossScaler, type DynamicLossScalerOptions, type StateDict, UnsupportedBackendError } from '@stable-adamw/core';
import { ReferenceStableAdamW, type ReferenceTensorState, resolveOptions } from '@stable-adamw/core/adapter';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { StableAdamW, stableAdamW, type TfjsStableAdamWOptions } from '../index.js';
import { seededValues as values } from '../testing/seeded-values.js';

// nonFinite: 'skip' on tfjs-webgpu's fused multi-tensor step, decided on the device.

const OPTIONS = { lr: 1e-2, weightDecay: 0.1, nonFinite: 'skip' } as const;
const unique = (tag: string) => `${tag}_${Math.random()}`;

/** Largest |actual − expected| beyond an fp32 tolerance of 1e-6 + 1e-5·|expected| (≤ 0: within it). */
function excess(actual: ArrayLike<number>[], expected: ArrayLike<number>[]): number {
  let worst = Number.NEGATIVE_INFINITY;
  actual.forEach((a, i) => {
    const e = expected[i] as ArrayLike<number>;
    for (let j = 0; j < e.length; j++) {
      const b = e[j] as number;
      worst = Math.max(worst, Math.abs((a[j] as number) - b) - (1e-6 + 1e-5 * Math.abs(b)));
    }
  });
  return worst;
}

/** Variables of `sizes`, their optimizer, and seeded gradients with `bad` written into tensor `at` of some steps. */
function model(sizes: readonly number[], options: TfjsStableAdamWOptions = OPTIONS) {
  const vars = sizes.map((n, i) => tf.variable(tf.tensor1d(values(n, i + 1, 1)), true, unique(`skip${i}`)));
  const opt = new StableAdamW(vars, options);
  const gradient = (t: number, i: number, bad?: number) => {
    const g = values(sizes[i] as number, 1000 * t + i + 7, t % 3 === 2 ? 50 : 0.1);
    if (bad !== undefined) g[(sizes[i] as number) - 1] = bad;
    return g;
  };
  const step = (t: number, bad?: { at: number; value: number }) => {
    const grads = vars.map((v, i) => ({
      name: v.name,
      tensor: tf.tensor1d(gradient(t, i, i === bad?.at ? bad.value : undefined)),
    }));
    try {
      opt.applyGradients(grads);
    } finally {
      tf.dispose(grads.map((g) => g.tensor));
    }
  };
  return {
    vars,
    opt,
    gradient,
    step,
    dispose() {
      opt.dispose();
      tf.dispose(vars);
    },
  };
}

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
    const reference = new ReferenceStableAdamW(
      sizes.map((n, i) => values(n, i + 1, 1)),
      [{ params: sizes.map((_, i) => i), hyperparameters: resolveOptions(OPTIONS) }],
      'float32',
    );
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

  it('keeps a loss scaler on the device: the same scales, skips and params as on the cpu backend', async () => {
    const run = async (backend: 'webgpu' | 'cpu', options: DynamicLossScalerOptions) => {
      expect(await tf.setBackend(backend)).toBe(true);
      const w = tf.variable(tf.tensor1d(values(2000, 3, 1)), true, unique(`scaled_${backend}`));
      const scaler = new DynamicLossScaler(options);
      const opt = new StableAdamW([w], { lr: 1e-2, nonFinite: 'skip', lossScaler: scaler });
      const target = tf.tensor1d(values(2000, 9, 2));
      const scales: number[] = [];
      const losses: number[] = [];
      let mid: StateDict | undefined;
      for (let t = 0; t < 12; t++) {
        // Steps 3 and 7 overflow: an infinite loss makes every gradient non-finite.
        const poison = t === 3 || t === 7 ? Number.POSITIVE_INFINITY : 1;
        const loss = opt.minimize(() => tf.mul(tf.sum(tf.square(tf.sub(w, target))), poison) as tf.Scalar, true);
        losses.push((await loss?.data())?.[0] as number);
        loss?.dispose();
        await opt.settled();
        scales.push(scaler.scale);
        if (t === 5) mid = await opt.stateDict();
      }
      const out = {
        scales,
        losses,
        skipped: opt.skippedSteps,
        step: opt.paramGroups[0]?.step,
        params: await w.data(),
        mid: mid as StateDict,
        end: await opt.stateDict(),
      };
      opt.dispose();
      tf.dispose([w, target]);
      return out;
    };
    const small = { initScale: 2 ** 10, growthInterval: 2, maxScale: 2 ** 11 };
    const gpu = await run('webgpu', small);
    const cpu = await run('cpu', small);
    // Backoff at steps 3 and 7, growth every 2 clean steps, capped at 2^11 (step 11).
    expect(cpu.scales).toEqual([1024, 2048, 2048, 1024, 1024, 2048, 2048, 1024, 1024, 2048, 2048, 2048]);
    expect(gpu.scales).toEqual(cpu.scales);
    expect([gpu.skipped, gpu.step]).toEqual([cpu.skipped, cpu.step]);
    expect([cpu.skipped, cpu.step]).toEqual([2, 10]);
    expect(excess([gpu.losses.filter(Number.isFinite)], [cpu.losses.filter(Number.isFinite)])).toBeLessThanOrEqual(0);
    expect(excess([gpu.params], [cpu.params])).toBeLessThanOrEqual(0);
    for (const key of ['mid', 'end'] as const) {
      const [a, b] = [gpu[key], cpu[key]];
      expect({ ...a, state: undefined }).toEqual({ ...b, state: undefined });
      const moments = (sd: StateDict) => [sd.state[0]?.exp_avg as number[], sd.state[0]?.exp_avg_sq as number[]];
      expect(excess(moments(a), moments(b))).toBeLessThanOrEqual(0);
    }
    // A scale beyond float32's range (2^130 is Inf there) backs off as in float64.
    const huge = { initScale: 2 ** 130, maxScale: 2 ** 130, growthInterval: 3 };
    const [hugeGpu, hugeCpu] = [await run('webgpu', huge), await run('cpu', huge)];
    expect(hugeCpu.skipped).toBeGreaterThan(3);
    expect(hugeGpu.scales).toEqual(hugeCpu.scales);
    expect([hugeGpu.skipped, hugeGpu.step]).toEqual([hugeCpu.skipped, hugeCpu.step]);
    expect(excess([hugeGpu.params], [hugeCpu.params])).toBeLessThanOrEqual(0);
  });

  it('model.fit with a loss scaler beyond float32 (the README example): as on the cpu backend', async () => {
    const fit = async (backend: 'webgpu' | 'cpu') => {
      expect(await tf.setBackend(backend)).toBe(true);
      const model = tfl.sequential({
        layers: [tfl.layers.dense({ units: 1, inputShape: [2], kernelInitializer: 'ones', biasInitializer: 'zeros' })],
      });
      const lossScaler = new DynamicLossScaler({ initScale: 2 ** 130, maxScale: 2 ** 130 });
      const optimizer = stableAdamW({ lr: 1e-2, lossScaler });
      model.compile({ optimizer, loss: 'meanSquaredError' });
      const xs = tf.tensor2d(values(128, 5, 2), [64, 2]);
      const ys = tf.mul(tf.sum(xs, 1, true), 0.5);
      const history = await model.fit(xs, ys, { epochs: 2, batchSize: 16, shuffle: false, verbose: 0 });
      await optimizer.settled();
      const out = {
        skipped: optimizer.skippedSteps,
        scale: lossScaler.scale,
        losses: history.history.loss as number[],
        kernel: await (model.getWeights()[0] as tf.Tensor).data(),
      };
      tf.dispose([xs, ys]);
      model.dispose();
      return out;
    };
    const gpu = await fit('webgpu');
    const cpu = await fit('cpu');
    expect(cpu.skipped).toBeGreaterThan(0);
    expect([gpu.skipped, gpu.scale]).toEqual([cpu.skipped, cpu.scale]);
    expect(excess([gpu.losses], [cpu.losses])).toBeLessThanOrEqual(0);
    expect(excess([gpu.kernel], [cpu.kernel])).toBeLessThanOrEqual(0);
  });

  it('restarts from a loaded state: the next step uses its counters', async () => {
    expect(await tf.setBackend('webgpu')).toBe(true);
    const sizes = [100, 7];
    const m = model(sizes);
    for (let t = 0; t < 3; t++) m.step(t, t === 1 ? { at: 0, value: Number.NaN } : undefined);
    const saved = await m.opt.stateDict();
    expect([saved.param_groups[0]?.step, saved.skipped_steps]).toEqual([2, 1]);
    const params = await Promise.all(m.vars.map((v) => v.data()));
    m.step(3);
    m.step(4, { at: 1, value: Number.NaN });
    // Loaded without waiting: the steps still being read back must not overwrite it.
    m.opt.loadStateDict(saved);
    m.vars.forEach((v, i) => {
      v.assign(tf.tensor1d(params[i] as Float32Array));
    });
    m.step(3);
    await m.opt.settled();
    expect([m.opt.paramGroups[0]?.step, m.opt.skippedSteps]).toEqual([3, 1]);
    const reference = new ReferenceStableAdamW(
      sizes.map((n, i) => values(n, i + 1, 1)),
      [{ params: [0, 1], hyperparameters: resolveOptions(OPTIONS) }],
      'float32',
    );
    for (const t of [0, 2, 3]) reference.step(sizes.map((_, i) => m.gradient(t, i)));
    expect(excess(await Promise.all(m.vars.map((v) => v.data())), reference.params)).toBeLessThanOrEqual(0);
    m.dispose();
  });

  it("refuses 'throw', the composed kernels and stepParam with a typed error, before anything changes", async () => {
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
    const opt = new StableAdamW([v], { lr: 1e-2, nonFinite: 'skip', gradientRelease: true });
    const g = tf.tensor1d([1, 1]);
    expect(() => opt.stepParam(v, g)).toThrow(/stepParam/);
    expect(Array.from(await v.data())).toEqual([1, 2]);
    opt.dispose();
    tf.dispose([v, g]);
  });

  it('refuses a step counted on the host while the device’s counters are not read back', async () => {
    expect(await tf.setBackend('webgpu')).toBe(true);
    const m = model([10]);
    m.step(0);
    (m.opt.paramGroups[0] as { nonFinite: string }).nonFinite = 'propagate';
    expect(() => m.step(1)).toThrow(/settled\(\)/);
    await m.opt.settled();
    m.step(1);
    expect(m.opt.paramGroups[0]?.step).toBe(2);
    m.dispose();
  });
});
