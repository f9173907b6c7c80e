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
    // The fused kernels of both decide 'skip' on the device: the suite's skip and loss-scaling steps
    // must read nothing back synchronously there. tfjs-webgpu has no synchronous readback, so
    // 'throw' (and 'skip' through composed kernels) is refused (training-safety.browser.test.ts);
    // webgl keeps a readback for those.
    const nonFinite = backend === 'webgl' || (kernel === 'composed' ? false : (['skip'] as const));
    const target = tfjsTarget(kernel, { nonFinite, skipOnDevice: kernel === 'fused' });
    for (const c of conformanceCases(target, { steps: 10 })) it(c.name, c.run);
  });
}
