import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { GradientMismatchError, InvalidParamError, UnsupportedBackendError } from '@stable-adamw/core';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { StableAdamW, stableAdamW } from './index.js';

const wasmDir = `${dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm'))}/`;
const unique = (name: string) => `${name}_${Math.random().toString(36).slice(2)}`;

async function values(v: tf.Tensor): Promise<number[]> {
  return Array.from(await v.data());
}

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`tfjs-${backend} StableAdamW`, () => {
    beforeAll(async () => {
      if (backend === 'wasm') setWasmPaths(wasmDir);
      expect(await tf.setBackend(backend)).toBe(true);
      await tf.ready();
    });

    it('step() reads nothing back and leaks no tensors over 100 steps', () => {
      const w = tf.variable(tf.randomNormal([33, 17]), true, unique('leak_w'));
      const b = tf.variable(tf.zeros([17]), true, unique('leak_b'));
      const opt = new StableAdamW([w, b], { lr: 1e-3 });
      const engineBackend = tf.backend();
      const readSync = vi.spyOn(engineBackend, 'readSync');
      const read = vi.spyOn(engineBackend, 'read');
      const stepOnce = () => {
        const grads = { [w.name]: tf.randomNormal([33, 17]), [b.name]: tf.randomNormal([17]) };
        opt.applyGradients(grads);
        tf.dispose(grads);
      };
      stepOnce();
      const after1 = tf.memory().numTensors;
      for (let i = 0; i < 99; i++) stepOnce();
      expect(tf.memory().numTensors).toBe(after1);
      expect(readSync).not.toHaveBeenCalled();
      expect(read).not.toHaveBeenCalled();
      readSync.mockRestore();
      read.mockRestore();
      opt.dispose();
      tf.dispose([w, b]);
    });

    it('dispose() frees the moments and the iteration counter', () => {
      const before = tf.memory().numTensors;
      const w = tf.tidy(() => tf.variable(tf.ones([4]), true, unique('free_w')));
      const opt = new StableAdamW([w], { lr: 1e-3 });
      opt.minimize(() => tf.sum(tf.square(w)) as tf.Scalar);
      opt.dispose();
      w.dispose();
      expect(tf.memory().numTensors).toBe(before);
    });
  });
}

describe('StableAdamW API (tfjs-cpu)', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('minimize differentiates only its variables, returns the cost on request, and honours varList', async () => {
    const w = tf.variable(tf.tensor1d([1, -2]), true, unique('min_w'));
    const other = tf.variable(tf.tensor1d([3]), true, unique('min_other'));
    const opt = new StableAdamW([w], { lr: 0.1, weightDecay: 0 });
    const loss = () => tf.add(tf.sum(tf.square(w)), tf.sum(tf.square(other))) as tf.Scalar;
    const cost = opt.minimize(loss, true);
    expect(await values(cost as tf.Scalar)).toEqual([14]);
    // Step 1 moves every element by lr (m = g, v = g², so m/√v = ±1).
    expect((await values(w)).map((x) => Math.round(x * 1e5) / 1e5)).toEqual([0.9, -1.9]);
    expect(await values(other)).toEqual([3]);
    expect(opt.minimize(loss, false, [w])).toBeNull();
    expect(opt.iterations).toBe(2);
    tf.dispose([cost as tf.Scalar, w, other]);
    opt.dispose();
  });

  it('kahanSum: true on float32 is a no-op, as in optimi', async () => {
    const run = async (kahanSum: boolean) => {
      const w = tf.variable(tf.tensor1d([0.5, -0.25, 2]), true, unique('kahan'));
      const opt = new StableAdamW([w], { lr: 1e-2, kahanSum });
      for (let t = 0; t < 5; t++) opt.minimize(() => tf.sum(tf.mul(w, tf.tensor1d([t, -1, 0.5]))) as tf.Scalar);
      const out = await values(w);
      expect((await opt.stateDict()).state[0]?.kahan_comp).toBeNull();
      opt.dispose();
      w.dispose();
      return out;
    };
    expect(await run(true)).toEqual(await run(false));
  });

  it("runs kernel: 'fused' in the backend's memory (host-fused)", () => {
    const v = tf.variable(tf.zeros([2]), true, unique('hostfused'));
    const opt = new StableAdamW([v], { lr: 1e-3, kernel: 'fused' });
    expect(opt.kernelPath).toBe('host-fused');
    opt.dispose();
    v.dispose();
  });

  it("rejects kernel: 'fused' on a backend without fused kernels before changing anything", async () => {
    // A cpu backend under another name: tfjs runs no op there, the optimizer knows no fused kernel for it.
    tf.registerBackend('no-fused', () => new MathBackendCPU());
    const v = tf.variable(tf.zeros([2]), true, unique('nofused'));
    const g = tf.ones([2]);
    const opt = new StableAdamW([v], { lr: 1e-3, kernel: 'fused' });
    try {
      expect(await tf.setBackend('no-fused')).toBe(true);
      expect(() => opt.applyGradients({ [v.name]: g })).toThrow(UnsupportedBackendError);
      expect(() => opt.applyGradients({ [v.name]: g })).toThrow(/`no-fused` has no fused StableAdamW kernels/);
    } finally {
      await tf.setBackend('cpu');
      tf.removeBackend('no-fused');
    }
    expect(await values(v)).toEqual([0, 0]);
    expect(opt.paramGroups[0]?.step).toBe(0);
    tf.dispose([g, v]);
    opt.dispose();
  });

  it('rejects bad options, non-float32 gradients and unknown variables with typed errors, changing nothing', async () => {
    const v = tf.variable(tf.tensor1d([1, 2]), true, unique('typed'));
    expect(() => new StableAdamW([v], { lr: 1e-3, kernel: 'gpu' as 'fused' })).toThrow(InvalidParamError);
    expect(() => stableAdamW({ lr: -1 })).toThrow(/lr/);
    const opt = new StableAdamW([v], { lr: 1e-3 });
    const ints = tf.tensor1d([1, 2], 'int32');
    expect(() => opt.applyGradients({ [v.name]: ints })).toThrow(GradientMismatchError);
    const g = tf.ones([2]);
    expect(() => opt.applyGradients({ [v.name]: g, nope: g })).toThrow(/`nope` got a gradient but is not managed/);
    expect(await values(v)).toEqual([1, 2]);
    expect(opt.paramGroups[0]?.step).toBe(0);
    tf.dispose([ints, g, v]);
    opt.dispose();
  });

  it('stateDict() from the cpu layout loads here and back', async () => {
    const a = tf.variable(tf.tensor2d([1, 2, 3, 4], [2, 2]), true, unique('sd_a'));
    const opt = new StableAdamW([a], { lr: 1e-2 });
    opt.minimize(() => tf.sum(tf.square(a)) as tf.Scalar);
    const saved = await opt.stateDict();
    expect(saved.param_groups[0]?.step).toBe(1);
    expect(saved.state[0]?.exp_avg).toEqual([2, 4, 6, 8]);
    const copy = new StableAdamW([a], { lr: 1 });
    copy.loadStateDict(JSON.parse(JSON.stringify(saved)));
    expect(await copy.stateDict()).toEqual(saved);
    expect(copy.paramGroups[0]?.lr).toBe(1e-2);
    tf.dispose(a);
    opt.dispose();
    copy.dispose();
  });
});
