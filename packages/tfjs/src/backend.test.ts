import { InvalidParamError, UnsupportedBackendError } from '@stable-adamw/core';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTfjsBackend } from './backend.js';
import * as resolution from './kernels/resolve-kernel.js';
import { StableAdamW } from './stable-adamw.js';

const unique = (name: string) => `${name}_${Math.random().toString(36).slice(2)}`;

beforeAll(async () => {
  expect(await tf.setBackend('cpu')).toBe(true);
});

afterEach(() => {
  vi.restoreAllMocks();
});

describe('createTfjsBackend', () => {
  it('names the active tfjs backend, once for the backend and the optimizer', () => {
    const backend = createTfjsBackend();
    expect(backend.backendId).toBe('tfjs-cpu');
    const v = tf.variable(tf.zeros([2]), true, unique('id'));
    const opt = new StableAdamW([v], { lr: 1e-3 });
    expect(opt.backendId).toBe(backend.backendId);
    opt.dispose();
    v.dispose();
  });

  it('has no gradient side channel: gradients are always handed in', () => {
    const backend = createTfjsBackend({ kernel: 'composed' });
    expect(backend.getGrad).toBeUndefined();
    expect(backend.clearGrad).toBeUndefined();
  });

  it('rejects an unknown kernel choice with a typed error', () => {
    expect(() => createTfjsBackend({ kernel: 'gpu' as 'fused' })).toThrow(InvalidParamError);
    expect(() => createTfjsBackend({ kernel: 'gpu' as 'fused' })).toThrow(/`kernel` is "gpu"/);
  });

  it('resolves the kernel once per step, however many variables it updates', () => {
    const resolve = vi.spyOn(resolution, 'resolveKernel');
    const variables = [[3, 4], [4], [2, 2, 2], [1]].map((shape, i) => tf.variable(tf.ones(shape), true, unique(`n${i}`)));
    const opt = new StableAdamW(variables, { lr: 1e-2 });
    const grads = Object.fromEntries(variables.map((v) => [v.name, tf.onesLike(v)]));
    opt.applyGradients(grads);
    expect(resolve).toHaveBeenCalledTimes(1);
    opt.applyGradients(grads);
    expect(resolve).toHaveBeenCalledTimes(2);
    // A step without gradients has nothing to run.
    opt.applyGradients({});
    expect(resolve).toHaveBeenCalledTimes(2);
    tf.dispose([...variables, ...Object.values(grads)]);
    opt.dispose();
  });

  it('resolves the kernel once per stepParam, accumulation-only or full', () => {
    const resolve = vi.spyOn(resolution, 'resolveKernel');
    const v = tf.variable(tf.ones([5]), true, unique('release'));
    const opt = new StableAdamW([v], { lr: 1e-2, gradientRelease: true });
    const g = tf.onesLike(v);
    opt.stepParam(v, g);
    expect(resolve).toHaveBeenCalledTimes(1);
    opt.accumulate = true;
    opt.stepParam(v, g);
    expect(resolve).toHaveBeenCalledTimes(2);
    tf.dispose([g, v]);
    opt.dispose();
  });

  it("refuses kernel: 'fused' at a step on a backend without fused kernels, before any tensor changes", async () => {
    const v = tf.variable(tf.tensor1d([1, 2]), true, unique('nofused'));
    const opt = new StableAdamW([v], { lr: 1e-2, gradientRelease: true, kernel: 'fused' });
    const g = tf.ones([2]);
    // A cpu backend under another name: the optimizer knows no fused kernel for it.
    tf.registerBackend('no-fused', () => new MathBackendCPU());
    try {
      expect(await tf.setBackend('no-fused')).toBe(true);
      expect(() => opt.stepParam(v, g)).toThrow(UnsupportedBackendError);
    } finally {
      await tf.setBackend('cpu');
      tf.removeBackend('no-fused');
    }
    expect(Array.from(await v.data())).toEqual([1, 2]);
    const state = (await opt.stateDict()).state[0];
    expect(state?.step ?? 0).toBe(0);
    expect(state?.exp_avg ?? [0, 0]).toEqual([0, 0]);
    tf.dispose([g, v]);
    opt.dispose();
  });
});
