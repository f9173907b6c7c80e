import '@tensorflow/tfjs-backend-webgpu';
import { ReferenceStableAdamW, resolveOptions } from '@stable-adamw/core/adapter';
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { StableAdamW } from '../index.js';
import { seededValues as values } from '../testing/seeded-values.js';

const OPTIONS = { lr: 1e-2, weightDecay: 0.1 };

const gradient = (n: number, t: number, i: number) => values(n, 1000 * t + i + 7, t === 2 ? 50 : 0.1);

/** `opt.stepParam(v, g)` with `g` from `gradient(v.size, t, i)`, freed afterwards. */
function stepParam(opt: StableAdamW, v: tf.Variable, t: number, i: number): void {
  const g = tf.tensor(gradient(v.size, t, i), v.shape);
  try {
    opt.stepParam(v, g);
  } finally {
    g.dispose();
  }
}

describe('tfjs-webgpu single-tensor kernel (gradient release)', () => {
  beforeAll(async () => {
    expect(await tf.setBackend('webgpu')).toBe(true);
  });
  afterEach(() => vi.restoreAllMocks());

  it('matches the float64 reference (accumulation included) in 3 dispatches per stepParam, reading nothing back and leaking nothing', async () => {
    // 300_001 elements take more than 16 per thread (the per-tensor block cap).
    const sizes = [1, 1025, 300_001];
    const vars = sizes.map((n, i) => tf.variable(tf.tensor1d(values(n, i + 1, 1)), true, `single_${i}_${Math.random()}`));
    const opt = new StableAdamW(vars, { ...OPTIONS, gradientRelease: true });
    const reference = new ReferenceStableAdamW(
      sizes.map((n, i) => values(n, i + 1, 1)),
      [{ params: sizes.map((_, i) => i), hyperparameters: resolveOptions(OPTIONS) }],
      'float32',
    );
    const run = (t: number, accumulate: boolean) => {
      opt.accumulate = accumulate;
      vars.forEach((v, i) => {
        stepParam(opt, v, t, i);
        reference.stepParam(i, gradient(v.size, t, i), accumulate);
      });
    };
    run(0, false);
    // A read caches the values on the CPU: the next in-place step must not leave them stale.
    await Promise.all(vars.map((v) => v.data()));
    const before = tf.memory();
    const engineBackend = tf.backend();
    const reads = [vi.spyOn(engineBackend, 'read'), vi.spyOn(engineBackend, 'readSync')];
    const dispatch = vi.spyOn(GPUComputePassEncoder.prototype, 'dispatchWorkgroups');
    for (const [t, accumulate] of [
      [1, false],
      [2, true],
      [3, false],
      [4, false],
    ] as const) {
      dispatch.mockClear();
      run(t, accumulate);
      // Phase 1 is `moments` (+ `sums`), phase 2 `update`; accumulation runs `moments` only.
      expect(dispatch).toHaveBeenCalledTimes(sizes.length * (accumulate ? 1 : 3));
    }
    for (const read of reads) expect(read).not.toHaveBeenCalled();
    expect(tf.memory().numTensors).toBe(before.numTensors);
    expect(tf.memory().numBytes).toBe(before.numBytes);
    vi.restoreAllMocks();
    const actual = await Promise.all(vars.map((v) => v.data()));
    let worst = Number.NEGATIVE_INFINITY;
    actual.forEach((a, i) => {
      const e = reference.params[i] as Float64Array;
      for (let j = 0; j < e.length; j++) {
        worst = Math.max(worst, Math.abs((a[j] as number) - (e[j] as number)) - (1e-6 + 1e-5 * Math.abs(e[j] as number)));
      }
    });
    expect(worst).toBeLessThanOrEqual(0);
    opt.dispose();
    tf.dispose(vars);
  });

  it('steps a variable to the same bits as a batched step() of it, run after run', async () => {
    const n = 70_000;
    const run = async (release: boolean) => {
      const v = tf.variable(tf.tensor1d(values(n, 3, 1)), true, `bits_${release}_${Math.random()}`);
      const opt = new StableAdamW([v], { ...OPTIONS, gradientRelease: release });
      for (let t = 1; t <= 3; t++) {
        if (release) stepParam(opt, v, t, 0);
        else {
          const g = tf.tensor1d(gradient(n, t, 0));
          opt.applyGradients({ [v.name]: g });
          g.dispose();
        }
      }
      const bits = new Uint32Array((await v.data()).buffer);
      opt.dispose();
      v.dispose();
      return bits;
    };
    const batched = await run(false);
    for (const bits of [await run(true), await run(true)]) {
      expect(bits.filter((b, j) => b !== batched[j]).length).toBe(0);
    }
  });

  it('never writes into a tensor that shares the variable’s data', async () => {
    const initial = tf.tensor1d([1, 2, 3]);
    const v = tf.variable(initial, true, `shared_single_${Math.random()}`);
    const alias = tf.reshape(v, [3, 1]);
    const opt = new StableAdamW([v], { lr: 0.1, weightDecay: 0, gradientRelease: true });
    const g = tf.tensor1d([1, 1, 1]);
    opt.stepParam(v, g);
    expect(Array.from(await initial.data())).toEqual([1, 2, 3]);
    expect(Array.from(await alias.data())).toEqual([1, 2, 3]);
    const stepped = await v.data();
    // Step 1 moves each element by lr·m/(√v + ε) = 0.1·1/(1 + 1e-6).
    for (const [j, x] of [1, 2, 3].entries()) expect(stepped[j]).toBeCloseTo(x - 0.1 / (1 + 1e-6), 6);
    tf.dispose([initial, alias, g, v]);
    opt.dispose();
  });
});
