import '@tensorflow/tfjs-backend-webgl';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it, vi } from 'vitest';
import { createTfjsState } from '../state.js';
import { seededValues as values } from '../testing/seeded-values.js';
import { webglKernel } from './webgl-kernel.js';

const MOMENTS = { beta1Hat: 0.9, beta2Hat: 0.99, epsSq: 1e-12, reduce: true, gradScale: 1 };

describe('tfjs-webgl fused kernel: draws per tensor', () => {
  // [1]: one block, the ratio pass leaves the sum; [4096]: 4 blocks, one partial pass; [1100, 1000]:
  // the column path (18 × 1000 partials, one finishing pass of 18 blocks); [2048, 2048]: 32 × 1024
  // partials, the most one finishing pass takes.
  it.each([
    [[1], 4],
    [[4096], 5],
    [[1100, 1000], 5],
    [[2048, 2048], 5],
  ])('%j: %i programs, and the RMS sum equals the float64 one', async (shape, programs) => {
    expect(await tf.setBackend('webgl')).toBe(true);
    const n = tf.util.sizeFromShape(shape);
    const g = values(n, 7, 1);
    const param = tf.variable(tf.zeros(shape), true, `draws_${n}_${Math.random()}`);
    const state = createTfjsState(param);
    const grad = tf.tensor(g, shape);
    const launch = vi.spyOn(tf.backend() as unknown as { compileAndRun: (...args: unknown[]) => unknown }, 'compileAndRun');
    const sum = webglKernel.updateMoments(param, grad, state, MOMENTS);
    const sumDraws = launch.mock.calls.length;
    const total = (await sum.data())[0] as number;
    webglKernel.applyUpdate(param, grad, state, sum, { lr: 1e-3, numel: n, eps: 1e-8, weightDecayPerLr: 0, kahan: false });
    expect(launch.mock.calls.length).toBe(programs);
    expect(sumDraws).toBe(programs - 1);
    launch.mockRestore();
    // From zero moments v′ = (1 − β̂2)·g², so each term is g²/max(v′, ε²) in float32 v′.
    let expected = 0;
    for (const x of g) {
      const v = Math.fround((1 - MOMENTS.beta2Hat) * Math.fround(x * x));
      expected += (x * x) / Math.max(v, MOMENTS.epsSq);
    }
    expect(Math.abs(total - expected)).toBeLessThanOrEqual(1e-5 * expected);
    tf.dispose([param, state.expAvg, state.expAvgSq, grad]);
  });
});
