import '@tensorflow/tfjs-backend-cpu';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { ReferenceStableAdamW, resolveOptions } from '@stable-adamw/core/adapter';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { StableAdamW } from '../index.js';
import { seededValues } from '../testing/seeded-values.js';

const wasmDir = `${dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm'))}/`;

// Element counts that are not multiples of the SIMD width (tfjs-wasm), so the loops' tails run too.
const SHAPES = [
  [301, 299],
  [33, 17],
];
const STEPS = 6;
const OPTIONS = { lr: 1e-2, weightDecay: 0.1 };
const size = (i: number) => tf.util.sizeFromShape(SHAPES[i] as number[]);
const initial = (i: number) => seededValues(size(i), i + 1, 1);
// Step 3 has a spike, so every tensor is RMS-clipped once.
const gradient = (t: number, i: number) => seededValues(size(i), 100 * t + i, t === 3 ? 50 : 0.1);

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`host-fused kernel on tfjs-${backend}`, () => {
    beforeAll(async () => {
      if (backend === 'wasm') setWasmPaths(wasmDir);
      expect(await tf.setBackend(backend)).toBe(true);
    });

    it('matches the float64 reference within float32 tolerance and leaks no tensors', async () => {
      const vars = SHAPES.map((shape, i) =>
        tf.variable(tf.tensor(initial(i), shape), true, `host_${backend}_${i}_${Math.random()}`),
      );
      const opt = new StableAdamW(vars, { ...OPTIONS, kernel: 'fused' });
      expect(opt.kernelPath).toBe('host-fused');
      const reference = new ReferenceStableAdamW(
        SHAPES.map((_, i) => initial(i)),
        [{ params: SHAPES.map((_, i) => i), hyperparameters: resolveOptions(OPTIONS) }],
        'float32',
      );
      let tensors = 0;
      for (let t = 0; t < STEPS; t++) {
        const grads = vars.map((v, i) => ({ name: v.name, tensor: tf.tensor(gradient(t, i), v.shape) }));
        opt.applyGradients(grads);
        for (const g of grads) g.tensor.dispose();
        reference.step(SHAPES.map((_, i) => gradient(t, i)));
        if (t === 1) tensors = tf.memory().numTensors;
      }
      expect(tf.memory().numTensors).toBe(tensors);
      for (const [i, v] of vars.entries()) {
        const actual = (await v.data()) as Float32Array;
        const expected = reference.params[i] as Float64Array;
        let worst = Number.NEGATIVE_INFINITY;
        for (let j = 0; j < expected.length; j++) {
          const b = expected[j] as number;
          worst = Math.max(worst, Math.abs((actual[j] as number) - b) - (1e-6 + 1e-5 * Math.abs(b)));
        }
        expect(worst).toBeLessThanOrEqual(0);
      }
      opt.dispose();
      for (const v of vars) v.dispose();
    });
  });
}
