import '@tensorflow/tfjs-backend-webgl';
import '@tensorflow/tfjs-backend-webgpu';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it, vi } from 'vitest';
import { type KernelChoice, StableAdamW } from './index.js';

const SHAPES = [[300, 7], [4096], [1]];

function values(n: number, seed: number, scale: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return (s / 2 ** 31 - 0.5) * scale;
  });
}

/** Trains three variables for `steps` steps (with a clipping spike) and returns them. */
async function train(kernel: KernelChoice, steps: number): Promise<Float32Array[]> {
  const vars = SHAPES.map((shape, i) =>
    tf.variable(tf.tensor(values(tf.util.sizeFromShape(shape), i + 1, 1), shape), true, `k_${kernel}_${i}_${Math.random()}`),
  );
  const opt = new StableAdamW(vars, { lr: 1e-2, weightDecay: 0.1, kernel });
  for (let t = 0; t < steps; t++) {
    const grads = vars.map((v, i) => ({
      name: v.name,
      tensor: tf.tensor(values(v.size, 100 * t + i, t === 3 ? 50 : 0.1), v.shape),
    }));
    opt.applyGradients(grads);
    for (const g of grads) g.tensor.dispose();
  }
  const out = await Promise.all(vars.map(async (v) => (await v.data()) as Float32Array));
  opt.dispose();
  for (const v of vars) v.dispose();
  return out;
}

describe('tfjs-webgl fused kernels', () => {
  it('agree with the composed kernels on the same inputs', async () => {
    await tf.setBackend('webgl');
    const fused = await train('fused', 8);
    const composed = await train('composed', 8);
    fused.forEach((f, i) => {
      const c = composed[i] as Float32Array;
      for (let j = 0; j < f.length; j++)
        expect(Math.abs((f[j] as number) - (c[j] as number))).toBeLessThanOrEqual(1e-6 + 1e-5 * Math.abs(c[j] as number));
    });
  });

  it.each(['fused', 'composed'] as const)('%s: step() reads nothing back and leaks no tensors', async (kernel) => {
    await tf.setBackend('webgl');
    const v = tf.variable(tf.randomNormal([64, 64]), true, `leak_${kernel}_${Math.random()}`);
    const opt = new StableAdamW([v], { lr: 1e-3, kernel });
    const backend = tf.backend();
    const readSync = vi.spyOn(backend, 'readSync');
    const read = vi.spyOn(backend, 'read');
    const stepOnce = () => {
      const g = tf.randomNormal([64, 64]);
      opt.applyGradients({ [v.name]: g });
      g.dispose();
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
    v.dispose();
  });

  it("rejects kernel: 'fused' where no fused kernel exists", async () => {
    await tf.setBackend('webgpu');
    const v = tf.variable(tf.zeros([2]), true, `nofused_${Math.random()}`);
    const opt = new StableAdamW([v], { lr: 1e-3, kernel: 'fused' });
    const g = tf.ones([2]);
    expect(() => opt.applyGradients({ [v.name]: g })).toThrow(/no fused StableAdamW kernels/);
    expect(Array.from(await v.data())).toEqual([0, 0]);
    expect(opt.paramGroups[0]?.step).toBe(0);
    g.dispose();
    v.dispose();
    opt.dispose();
  });
});
