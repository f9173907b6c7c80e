import '@tensorflow/tfjs-backend-webgpu';
import { ReferenceStableAdamW, resolveOptions } from '@stable-adamw/core/adapter';
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { StableAdamW } from '../index.js';
import { seededValues as values } from '../testing/seeded-values.js';

const OPTIONS = { lr: 1e-2, weightDecay: 0.1 };

/** A model of `sizes.length` variables and its optimizer; `step(t)` applies seeded gradients. */
function model(sizes: readonly number[], tag: string) {
  const vars = sizes.map((n, i) => tf.variable(tf.tensor1d(values(n, i + 1, 1)), true, `${tag}_${i}_${Math.random()}`));
  const opt = new StableAdamW(vars, OPTIONS);
  const gradient = (t: number, i: number) => values(sizes[i] as number, 1000 * t + i + 7, t === 2 ? 50 : 0.1);
  return {
    vars,
    opt,
    step(t: number) {
      const grads = vars.map((v, i) => ({ name: v.name, tensor: tf.tensor1d(gradient(t, i)) }));
      opt.applyGradients(grads);
      for (const g of grads) g.tensor.dispose();
    },
    gradient,
    dispose() {
      opt.dispose();
      for (const v of vars) v.dispose();
    },
  };
}

/** Dispatches and queue submits recorded while `fn` runs. */
function countCommands(fn: () => void): { dispatches: number; submits: number } {
  const dispatch = vi.spyOn(GPUComputePassEncoder.prototype, 'dispatchWorkgroups');
  const submit = vi.spyOn(GPUQueue.prototype, 'submit');
  try {
    fn();
    return { dispatches: dispatch.mock.calls.length, submits: submit.mock.calls.length };
  } finally {
    dispatch.mockRestore();
    submit.mockRestore();
  }
}

describe('tfjs-webgpu multi-tensor kernel', () => {
  beforeAll(async () => {
    expect(await tf.setBackend('webgpu')).toBe(true);
  });
  afterEach(() => vi.restoreAllMocks());

  it('runs 3 dispatches and 1 submit per step for 4 tensors and for 512', async () => {
    const counts = [];
    for (const sizes of [[4096, 4096, 4096, 4096], Array.from({ length: 512 }, (_, i) => 32 + (i % 7) * 100)]) {
      const m = model(sizes, 'count');
      expect(m.opt.kernelPath).toBe('webgpu-multi-tensor');
      m.step(0);
      // Gradients are uploaded (copies, no dispatches) before the step is counted.
      const grads = m.vars.map((v, i) => ({ name: v.name, tensor: tf.tensor1d(m.gradient(1, i)) }));
      counts.push(countCommands(() => m.opt.applyGradients(grads)));
      for (const g of grads) g.tensor.dispose();
      await m.vars[0]?.data();
      m.dispose();
    }
    expect(counts[0]).toEqual({ dispatches: 3, submits: 1 });
    expect(counts[1]).toEqual(counts[0]);
  });

  it('matches the float64 reference on many tensors of odd sizes, and leaks nothing', async () => {
    const sizes = [1, 3, 1023, 1024, 1025, 4097, ...Array.from({ length: 100 }, (_, i) => 1 + ((i * 37) % 300)), 300_000];
    const m = model(sizes, 'ref');
    const reference = new ReferenceStableAdamW(
      sizes.map((n, i) => values(n, i + 1, 1)),
      [{ params: sizes.map((_, i) => i), hyperparameters: resolveOptions(OPTIONS) }],
      'float32',
    );
    m.step(0);
    reference.step(sizes.map((_, i) => m.gradient(0, i)));
    // A read caches the values on the CPU: the next in-place step must not leave them stale.
    await Promise.all(m.vars.map((v) => v.data()));
    const before = tf.memory();
    for (let t = 1; t < 5; t++) {
      m.step(t);
      reference.step(sizes.map((_, i) => m.gradient(t, i)));
    }
    expect(tf.memory().numTensors).toBe(before.numTensors);
    expect(tf.memory().numBytes).toBe(before.numBytes);
    const actual = await Promise.all(m.vars.map((v) => v.data()));
    let worst = Number.NEGATIVE_INFINITY;
    actual.forEach((a, i) => {
      const e = reference.params[i] as Float64Array;
      for (let j = 0; j < e.length; j++) {
        worst = Math.max(worst, Math.abs((a[j] as number) - (e[j] as number)) - (1e-6 + 1e-5 * Math.abs(e[j] as number)));
      }
    });
    expect(worst).toBeLessThanOrEqual(0);
    m.dispose();
  });

  it('is deterministic: the same run twice gives the same bits, big tensors included', async () => {
    // 300_001 elements take more than 16 per thread (the per-tensor block cap).
    const sizes = [5, 70_000, 300_001];
    const run = async () => {
      const m = model(sizes, 'det');
      for (let t = 0; t < 3; t++) m.step(t);
      const out = await Promise.all(m.vars.map(async (v) => new Uint32Array((await v.data()).buffer)));
      m.dispose();
      return out;
    };
    const [first, second] = [await run(), await run()];
    const differing = first.map((bits, i) => bits.filter((b, j) => b !== second[i]?.[j]).length);
    expect(differing).toEqual([0, 0, 0]);
  });

  it('never writes into a tensor that shares the variable’s data', async () => {
    const initial = tf.tensor1d([1, 2, 3]);
    const v = tf.variable(initial, true, `shared_${Math.random()}`);
    const alias = tf.reshape(v, [3, 1]);
    const opt = new StableAdamW([v], { lr: 0.1, weightDecay: 0 });
    const g = tf.tensor1d([1, 1, 1]);
    opt.applyGradients({ [v.name]: g });
    expect(Array.from(await initial.data())).toEqual([1, 2, 3]);
    expect(Array.from(await alias.data())).toEqual([1, 2, 3]);
    const stepped = await v.data();
    // Step 1 moves each element by lr·m/(√v + ε) = 0.1·1/(1 + 1e-6).
    for (const [j, x] of [1, 2, 3].entries()) expect(stepped[j]).toBeCloseTo(x - 0.1 / (1 + 1e-6), 6);
    tf.dispose([initial, alias, g, v]);
    opt.dispose();
  });
});
