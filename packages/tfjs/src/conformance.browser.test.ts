import '@tensorflow/tfjs-backend-webgl';
import '@tensorflow/tfjs-backend-webgpu';
import { conformanceCases } from '@stable-adamw/conformance';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { tfjsTarget } from './testing/tfjs-target.js';

// WebGL2 and WebGPU on SwiftShader: 10 steps per generated scenario keeps the suite quick.
const runs: ['webgl' | 'webgpu', 'fused' | 'composed' | 'auto'][] = [
  ['webgl', 'fused'],
  ['webgl', 'composed'],
  ['webgpu', 'fused'],
  ['webgpu', 'composed'],
];

for (const [backend, kernel] of runs) {
  describe(`tfjs-${backend} conformance (${kernel} kernels)`, () => {
    beforeAll(async () => {
      expect(await tf.setBackend(backend)).toBe(true);
      await tf.ready();
    });
    // tfjs-webgpu has no synchronous readback, so 'skip'/'throw' are refused there
    // (training-safety.browser.test.ts checks the refusal and the webgpu kernels' gradScale).
    const target = tfjsTarget(kernel, { nonFinite: backend === 'webgl' });
    for (const c of conformanceCases(target, { steps: 10 })) it(c.name, c.run);
  });
}
