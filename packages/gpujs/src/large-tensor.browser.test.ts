import { GPU } from 'gpu.js';
import { describe, expect, it } from 'vitest';
import { checkLargeTensor } from './testing/large-tensor.js';

describe.each(['webgl2', 'webgpu'] as const)('gpujs %s in Chromium: a 33.5M-element tensor', (mode) => {
  // SwiftShader runs every shader on the CPU: a couple of minutes per backend on a loaded machine.
  it('steps 8192 × 4096 like the float64 reference, clipped by the sum over the whole tensor', { timeout: 600_000 }, async () => {
    const gpu = new GPU({ mode });
    const check = await checkLargeTensor(gpu);
    await gpu.destroy();
    expect(check.executedModes).toEqual([mode]);
    expect(check.rms).toBeGreaterThan(1.1);
    expect(check.sampled).toBeGreaterThan(4000);
    expect(check.maxError).toBeLessThan(2e-6);
  });
});
