import '@tensorflow/tfjs-backend-webgl';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { compareWithPlainTraining, mlp, sharedLayerModel } from './testing/release-models.js';

describe('gradient release on tfjs-webgl (fused kernels run inside backprop)', () => {
  it('model.fit and trainOnBatch give the weights of training without it, shared layers included', async () => {
    expect(await tf.setBackend('webgl')).toBe(true);
    await compareWithPlainTraining(() => mlp(21));
    await compareWithPlainTraining(() => sharedLayerModel(31));
  });
});
