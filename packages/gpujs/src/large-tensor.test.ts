import { GPU } from 'gpu.js';
import { describe, expect, it } from 'vitest';
import { checkLargeTensor } from './testing/large-tensor.js';

describe.each(['cpu', 'webasm'] as const)('gpujs %s: a 33.5M-element tensor', (mode) => {
  // gpu.js runs every element through JavaScript or wasm here: minutes, not seconds, on a loaded machine.
  it('steps 8192 × 4096 like the float64 reference, clipped by the sum over the whole tensor', { timeout: 400_000 }, async () => {
    const gpu = new GPU({ mode });
    const check = await checkLargeTensor(gpu);
    await gpu.destroy();
    expect(check.executedModes).toEqual([mode]);
    expect(check.rms).toBeGreaterThan(1.1);
    expect(check.sampled).toBeGreaterThan(4000);
    expect(check.maxError).toBeLessThan(2e-6);
  });
});
