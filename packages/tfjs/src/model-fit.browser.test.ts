import '@tensorflow/tfjs-backend-webgl';
import '@tensorflow/tfjs-backend-webgpu';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { fitAndReplay } from './testing/fit-replay.js';

for (const backend of ['webgl', 'webgpu'] as const) {
  describe(`tfjs-layers model.fit on tfjs-${backend} (fused kernels)`, () => {
    it('matches the float64 reference replaying the same gradients', async () => {
      expect(await tf.setBackend(backend)).toBe(true);
      const run = await fitAndReplay('fused', 3);
      expect(run.steps).toBe(12);
      expect(run.losses[2]).toBeLessThan(run.losses[0] as number);
      expect(run.maxExcess).toBeLessThanOrEqual(0);
    });
  });
}
