import '@tensorflow/tfjs-backend-webgl';
import '@tensorflow/tfjs-backend-webgpu';
import { ReferenceStableAdamW, resolveOptions } from '@stable-adamw/core/adapter';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it, vi } from 'vitest';
import { type KernelChoice, StableAdamW } from './index.js';
import { excess } from './kernels/device-skip-cases.js';
import { seededValues as values } from './testing/seeded-values.js';

// [1100, 1000] needs three reduction levels on WebGPU (1.1M → 1075 → 2 → 1) and several on WebGL.
const SHAPES = [[300, 7], [4096], [1], [1100, 1000]];
const STEPS = 6;
const OPTIONS = { lr: 1e-2, weightDecay: 0.1 };

const initial = (i: number) => values(tf.util.sizeFromShape(SHAPES[i] as number[]), i + 1, 1);
// Step 3 has a spike, so every tensor is RMS-clipped once.
const gradient = (t: number, i: number) => values(tf.util.sizeFromShape(SHAPES[i] as number[]), 100 * t + i, t === 3 ? 50 : 0.1);

/** Trains one variable per shape for `STEPS` steps on the active backend and returns the values. */
async function trainTfjs(kernel: KernelChoice): Promise<Float32Array[]> {
  const vars = SHAPES.map((shape, i) => tf.variable(tf.tensor(initial(i), shape), true, `k_${kernel}_${i}_${Math.random()}`));
  const opt = new StableAdamW(vars, { ...OPTIONS, kernel });
  for (let t = 0; t < STEPS; t++) {
    const grads = vars.map((v, i) => ({ name: v.name, tensor: tf.tensor(gradient(t, i), v.shape) }));
    opt.applyGradients(grads);
    for (const g of grads) g.tensor.dispose();
  }
  const out = await Promise.all(vars.map(async (v) => (await v.data()) as Float32Array));
  opt.dispose();
  for (const v of vars) v.dispose();
  return out;
}

/** The same run on the float64 reference (float32 storage). */
function trainReference(): Float64Array[] {
  const reference = new ReferenceStableAdamW(
    SHAPES.map((_, i) => initial(i)),
    [{ params: SHAPES.map((_, i) => i), hyperparameters: resolveOptions(OPTIONS) }],
    'float32',
  );
  for (let t = 0; t < STEPS; t++) reference.step(SHAPES.map((_, i) => gradient(t, i)));
  return reference.params;
}

/** A WebGL (`userCode`) or WebGPU (`getUserCode()`) program as handed to the backend. */
interface CustomProgram {
  userCode?: string;
  getUserCode?: () => string;
}

const codeOf = (program: CustomProgram) => program.userCode ?? program.getUserCode?.() ?? '';

for (const backend of ['webgl', 'webgpu'] as const) {
  describe(`tfjs-${backend} kernels`, () => {
    it('fused, composed and the float64 reference agree on the same inputs', async () => {
      expect(await tf.setBackend(backend)).toBe(true);
      const fused = await trainTfjs('fused');
      const composed = await trainTfjs('composed');
      const reference = trainReference();
      expect(excess(fused, composed)).toBeLessThanOrEqual(0);
      expect(excess(fused, reference)).toBeLessThanOrEqual(0);
      expect(excess(composed, reference)).toBeLessThanOrEqual(0);
    });

    it.each(['fused', 'composed'] as const)('%s: step() reads nothing back and leaks no tensors', async (kernel) => {
      expect(await tf.setBackend(backend)).toBe(true);
      const v = tf.variable(tf.randomNormal([64, 64]), true, `leak_${kernel}_${Math.random()}`);
      const opt = new StableAdamW([v], { lr: 1e-3, kernel });
      const engineBackend = tf.backend();
      const readSync = vi.spyOn(engineBackend, 'readSync');
      const read = vi.spyOn(engineBackend, 'read');
      // The custom programs go through these runners; the update program is the one using decayPerLr.
      const runner = backend === 'webgl' ? 'compileAndRun' : 'runWebGPUProgram';
      const launch = vi.spyOn(engineBackend as unknown as Record<string, (program: CustomProgram) => unknown>, runner);
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
      // Fused steps run in our own compute passes (WebGPU: 3 dispatches per step, counted in
      // webgpu-multi-tensor.browser.test.ts) or draws (WebGL2: 4 per step, counted in
      // webgl-multi-tensor.browser.test.ts), not through tfjs's program runner.
      const updates = launch.mock.calls.filter(([program]) => codeOf(program).includes('decayPerLr')).length;
      expect(updates).toBe(0);
      expect(opt.kernelPath).toBe(
        kernel === 'composed' ? 'composed' : `${backend}-${backend === 'webgl' ? 'fused' : 'multi-tensor'}`,
      );
      launch.mockRestore();
      readSync.mockRestore();
      read.mockRestore();
      opt.dispose();
      v.dispose();
    });
  });
}

describe('tfjs-webgl fused RMS sum', () => {
  it('packed gradients (unpacked once per step) and uploaded ones step alike', async () => {
    expect(await tf.setBackend('webgl')).toBe(true);
    const texData = (tf.backend() as unknown as { texData: { get(dataId: object): { isPacked?: boolean } } }).texData;
    const i = SHAPES.length - 1;
    const shape = SHAPES[i] as number[];
    const train = async (packed: boolean) => {
      const v = tf.variable(tf.tensor(initial(i), shape), true, `packed_${packed}_${Math.random()}`);
      const opt = new StableAdamW([v], { ...OPTIONS, kernel: 'fused' });
      let tensors = 0;
      for (let t = 0; t < STEPS; t++) {
        const upload = tf.tensor(gradient(t, i), shape);
        // A packed op's output stays packed (tfjs unpacks lazily); an upload is stored as our programs read it.
        const g = packed ? tf.tidy(() => tf.mul(upload, tf.scalar(1))) : upload;
        expect(texData.get(g.dataId)?.isPacked ?? false).toBe(packed);
        opt.applyGradients({ [v.name]: g });
        tf.dispose([upload, g]);
        if (t === 1) tensors = tf.memory().numTensors;
      }
      expect(tf.memory().numTensors).toBe(tensors);
      const out = (await v.data()) as Float32Array;
      opt.dispose();
      v.dispose();
      return out;
    };
    const expected = trainReference()[i] as Float64Array;
    expect(excess([await train(true)], [expected])).toBeLessThanOrEqual(0);
    expect(excess([await train(false)], [expected])).toBeLessThanOrEqual(0);
  });
});
