import '@tensorflow/tfjs-backend-webgl';
import '@tensorflow/tfjs-backend-webgpu';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { goldenCheckpointCases } from './checkpoint-golden.cases.js';

// The fused kernels of WebGL2 and WebGPU (SwiftShader), continuing from optimi's recorded state.
for (const backend of ['webgl', 'webgpu'] as const) {
  describe(`optimi's golden trajectories continue from an 'optimi' checkpoint on tfjs-${backend}`, () => {
    beforeAll(async () => {
      expect(await tf.setBackend(backend)).toBe(true);
      await tf.ready();
    });
    for (const c of goldenCheckpointCases) it(c.name, c.run);
  });
}
