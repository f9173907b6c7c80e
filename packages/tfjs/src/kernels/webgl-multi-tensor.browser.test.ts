import '@tensorflow/tfjs-backend-webgl';
import { UnsupportedBackendError } from '@stable-adamw/core';
import {
  momentScalars,
  ReferenceStableAdamW,
  type ReferenceTensorState,
  resolveOptions,
  type TensorStep,
} from '@stable-adamw/core/adapter';
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTfjsBackend, StableAdamW, type TfjsState } from '../index.js';
import { seededValues as values } from '../testing/seeded-values.js';
import { excess } from './device-skip-cases.js';

type GL = WebGL2RenderingContext;
const webgl = () =>
  tf.backend() as unknown as {
    gpgpu: { gl: GL };
    uploadToGPU(dataId: object): void;
    readSync(dataId: object): unknown;
    read(dataId: object): Promise<unknown>;
    getTextureManager(): { numUsedTextures: number; numFreeTextures: number };
  };

/** WebGL draw calls made while `fn` runs. */
function countDraws(fn: () => void): number {
  const spies = (['drawArrays', 'drawElements'] as const).map((name) => vi.spyOn(WebGL2RenderingContext.prototype, name));
  try {
    fn();
    return spies.reduce((n, spy) => n + spy.mock.calls.length, 0);
  } finally {
    for (const spy of spies) spy.mockRestore();
  }
}

/** A gradient tensor already on the GPU (the upload is a tfjs program of its own). */
function onDevice(data: Float32Array, shape: number[]): tf.Tensor {
  const t = tf.tensor(data, shape);
  webgl().uploadToGPU(t.dataId);
  return t;
}

const HYPER = resolveOptions({ lr: 1e-2, weightDecay: 0.1 });
const GRAD_SCALE = 1 / 1024;

/** One batched step over `vars` through the backend contract, as StableAdamW.step() runs it. */
function batchedStep(
  vars: tf.Variable[],
  states: TfjsState[],
  grads: tf.Tensor[],
  t: number,
  decay: (i: number) => number,
  gradScale = 1,
) {
  const tfjs = createTfjsBackend({ kernel: 'fused' });
  const steps: TensorStep<tf.Variable, tf.Tensor, TfjsState>[] = vars.map((param, i) => ({
    param,
    grad: grads[i] as tf.Tensor,
    state: states[i] as TfjsState,
    info: tfjs.describeParam(param, `params[${i}]`),
    moments: momentScalars(HYPER.betas, HYPER.eps, t, 'float32', true, gradScale),
    update: { lr: HYPER.lr, numel: param.size, eps: HYPER.eps, weightDecayPerLr: decay(i), kahan: false },
  }));
  tfjs.stepTensors?.(steps);
}

describe('tfjs-webgl multi-tensor step', () => {
  beforeAll(async () => {
    expect(await tf.setBackend('webgl')).toBe(true);
    expect(tf.env().getNumber('WEBGL_VERSION')).toBe(2);
  });
  afterEach(() => vi.restoreAllMocks());

  it('runs 4 draws per step for 4 tensors and for 512', async () => {
    const counts: number[] = [];
    for (const sizes of [[4096, 4096, 4096, 4096], Array.from({ length: 512 }, (_, i) => 1 + ((i * 37) % 300))]) {
      const vars = sizes.map((n, i) => tf.variable(tf.tensor1d(values(n, i + 1, 1)), true, `count_${i}_${Math.random()}`));
      const opt = new StableAdamW(vars, { lr: 1e-2, kernel: 'fused' });
      expect(opt.kernelPath).toBe('webgl-fused');
      const grads = vars.map((v, i) => ({ name: v.name, tensor: onDevice(values(v.size, i + 7, 0.1), v.shape) }));
      opt.applyGradients(grads);
      counts.push(countDraws(() => opt.applyGradients(grads)));
      await vars[0]?.data();
      for (const g of grads) g.tensor.dispose();
      opt.dispose();
      tf.dispose(vars);
    }
    expect(counts).toEqual([4, 4]);
  });

  // [1], [5], [300]: one block; [1100, 1000]: the per-variable column path's shape; [9, 5] and
  // [3, 7]: odd texture rows and columns; [8193]: a squarified texture (91 × 91) with a padded last row.
  const SHAPES = [[1], [5], [300], [1100, 1000], [9, 5], [3, 7], [8193], ...Array.from({ length: 40 }, (_, i) => [1 + i * 13])];
  const size = (i: number) => tf.util.sizeFromShape(SHAPES[i] as number[]);
  // Step 2 has a spike: every tensor is RMS-clipped there.
  const gradient = (t: number, i: number) => values(size(i), 100 * t + i, t === 2 ? 50 : 0.1);
  // Two weight-decay groups: even tensors decay, odd ones do not.
  const decay = (i: number) => (i % 2 === 0 ? HYPER.weightDecay : 0);

  it('matches the float64 reference (odd shapes, two decay groups, clipping, gradScale) and reads nothing back', async () => {
    const vars = SHAPES.map((shape, i) =>
      tf.variable(tf.tensor(values(size(i), i + 3, 1), shape), true, `ref_${i}_${Math.random()}`),
    );
    const tfjs = createTfjsBackend({ kernel: 'fused' });
    const states = vars.map((v, i) => tfjs.createState(v, tfjs.describeParam(v, `params[${i}]`), false));
    // Params and moments start in host memory: their upload (one tfjs program each) is not the step's.
    for (const x of [...vars, ...states.flatMap((s) => [s.expAvg, s.expAvgSq])]) webgl().uploadToGPU(x.dataId);
    const groups = [0, 1].map((odd) => ({
      params: SHAPES.map((_, i) => i).filter((i) => i % 2 === odd),
      hyperparameters: { ...HYPER, weightDecay: odd ? 0 : HYPER.weightDecay },
    }));
    const reference = new ReferenceStableAdamW(
      SHAPES.map((_, i) => values(size(i), i + 3, 1)),
      groups,
      'float32',
    );
    const manager = webgl().getTextureManager();
    let before: { memory: tf.MemoryInfo; textures: number } | undefined;
    const readSync = vi.spyOn(webgl(), 'readSync');
    const read = vi.spyOn(webgl(), 'read');
    const draws: number[] = [];
    for (let t = 1; t <= 4; t++) {
      // Gradients × 1024 with gradScale 1/1024 (a loss scaler's unscale).
      const grads = vars.map((v, i) =>
        onDevice(
          gradient(t, i).map((x) => x / GRAD_SCALE),
          v.shape,
        ),
      );
      draws.push(countDraws(() => batchedStep(vars, states, grads, t, decay, GRAD_SCALE)));
      tf.dispose(grads);
      reference.step(SHAPES.map((_, i) => gradient(t, i)));
      before ??= { memory: tf.memory(), textures: manager.numUsedTextures + manager.numFreeTextures };
    }
    expect(draws).toEqual([4, 4, 4, 4]);
    expect([readSync.mock.calls.length, read.mock.calls.length]).toEqual([0, 0]);
    expect(tf.memory().numTensors).toBe(before?.memory.numTensors);
    expect(tf.memory().numBytes).toBe(before?.memory.numBytes);
    // The atlases go back to tfjs's pool and are taken again: no texture is created after the first step.
    expect(manager.numUsedTextures + manager.numFreeTextures).toBe(before?.textures);
    readSync.mockRestore();
    read.mockRestore();
    const readAll = (tensors: tf.Tensor[]) => Promise.all(tensors.map((x) => x.data()));
    const expected = reference.state as ReferenceTensorState[];
    expect(
      excess(
        await readAll(states.map((s) => s.expAvg)),
        expected.map((s) => s.expAvg),
      ),
    ).toBeLessThanOrEqual(0);
    expect(
      excess(
        await readAll(states.map((s) => s.expAvgSq)),
        expected.map((s) => s.expAvgSq),
      ),
    ).toBeLessThanOrEqual(0);
    expect(excess(await readAll(vars), reference.params)).toBeLessThanOrEqual(0);
    for (const state of states) tfjs.disposeState?.(state);
    tf.dispose(vars);
  });

  it('never writes into a tensor sharing the variable’s data, and tfjs ops still work after the step', async () => {
    const initial = tf.tensor1d([1, 2, 3]);
    const v = tf.variable(initial, true, `shared_${Math.random()}`);
    const clone = tf.clone(v);
    const opt = new StableAdamW([v], { lr: 0.1, weightDecay: 0, kernel: 'fused' });
    const g = tf.tensor1d([1, 1, 1]);
    opt.applyGradients({ [v.name]: g });
    expect(Array.from(await initial.data())).toEqual([1, 2, 3]);
    expect(Array.from(await clone.data())).toEqual([1, 2, 3]);
    // Step 1 moves each element by lr·m/(√v + ε) = 0.1·1/(1 + 1e-6).
    const stepped = await v.data();
    for (const [j, x] of [1, 2, 3].entries()) expect(stepped[j]).toBeCloseTo(x - 0.1 / (1 + 1e-6), 6);
    // A packed matMul and an unpacked elementwise op, right after our draws.
    const product = tf.matMul(tf.tensor2d([1, 2, 3, 4], [2, 2]), tf.tensor2d([5, 6, 7, 8], [2, 2]));
    expect(Array.from(await product.data())).toEqual([19, 22, 43, 50]);
    expect(Array.from(await tf.add(v, 1).data())).toEqual(Array.from(stepped, (x) => Math.fround(x + 1)));
    tf.dispose([initial, clone, g, v, product]);
    opt.dispose();
  });

  it('a failed draw throws a typed error and leaves params, state and memory unchanged', async () => {
    const vars = [[5], [300, 3]].map((shape, i) =>
      tf.variable(tf.tensor(values(tf.util.sizeFromShape(shape), i + 1, 1), shape), true, `fail_${i}_${Math.random()}`),
    );
    const tfjs = createTfjsBackend({ kernel: 'fused' });
    const states = vars.map((v, i) => tfjs.createState(v, tfjs.describeParam(v, `params[${i}]`), false));
    const grads = vars.map((v, i) => onDevice(values(v.size, i + 9, 0.1), v.shape));
    batchedStep(vars, states, grads, 1, decay);
    const snapshot = async () => Promise.all([...vars, ...states.flatMap((s) => [s.expAvg, s.expAvgSq])].map((x) => x.data()));
    const before = await snapshot();
    const memory = tf.memory();
    const original = WebGL2RenderingContext.prototype.drawArrays;
    let calls = 0;
    vi.spyOn(WebGL2RenderingContext.prototype, 'drawArrays').mockImplementation(function (this: GL, ...args) {
      calls += 1;
      if (calls === 3) throw new Error('draw lost');
      return original.apply(this, args);
    });
    expect(() => batchedStep(vars, states, grads, 2, decay)).toThrow(UnsupportedBackendError);
    vi.restoreAllMocks();
    expect(await snapshot()).toEqual(before);
    expect(tf.memory().numTensors).toBe(memory.numTensors);
    expect(tf.memory().numBytes).toBe(memory.numBytes);
    const product = tf.matMul(tf.tensor2d([1, 2], [1, 2]), tf.tensor2d([3, 4], [2, 1]));
    expect(Array.from(await product.data())).toEqual([11]);
    // The next step runs normally.
    batchedStep(vars, states, grads, 2, decay);
    expect((await vars[0]?.data())?.[0]).not.toBe(before[0]?.[0]);
    for (const state of states) tfjs.disposeState?.(state);
    tf.dispose([...vars, ...grads, product]);
  });
});
