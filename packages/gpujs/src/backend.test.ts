import { InvalidHyperparameterError, UnsupportedBackendError } from '@stable-adamw/core';
import { StableAdamWOptimizer } from '@stable-adamw/core/adapter';
import { GPU } from 'gpu.js';
import { describe, expect, it } from 'vitest';
import { createGpujsBackend } from './backend.js';
import type { GpuJsParam } from './param.js';
import { StableAdamW } from './stable-adamw.js';

describe('createGpujsBackend', () => {
  it("drives core's StableAdamWOptimizer exactly as StableAdamW does", async () => {
    const gpu = new GPU({ mode: 'cpu' });
    const backend = createGpujsBackend({ gpu });
    expect(backend.specificationVersion).toBe('v1');
    expect(backend.backendId).toBe('gpujs-cpu');
    expect(backend.mode).toBe('cpu');
    const bare: GpuJsParam = { data: new Float32Array([1, -2, 3]) };
    const wrapped: GpuJsParam = { data: new Float32Array([1, -2, 3]) };
    const core = new StableAdamWOptimizer(backend, [bare], { lr: 0.1 });
    const opt = new StableAdamW([wrapped], { gpu, lr: 0.1 });
    for (const grad of [
      [0.5, -1, 2],
      [3, 0, -4],
    ]) {
      bare.grad = Float32Array.from(grad);
      wrapped.grad = Float32Array.from(grad);
      core.step();
      opt.step();
    }
    expect(await backend.readParam(bare)).toEqual(await opt.readParam(wrapped));
    expect(backend.stats.readbacks).toBe(0); // host-resident mode: no device readbacks
    await backend.destroy();
    expect(backend.stats.liveTensors).toBe(0);
    await opt.dispose();
  });

  it('refuses a missing GPU, packed precision and modes without float kernels', () => {
    expect(() => createGpujsBackend(undefined as never)).toThrow(InvalidHyperparameterError);
    expect(() => createGpujsBackend({ gpu: new GPU({ mode: 'cpu' }), precision: 'unsigned' as never })).toThrow(/8-bit/);
    expect(() => createGpujsBackend({ gpu: { createKernel: () => undefined, mode: 'dev' } as never })).toThrow(
      UnsupportedBackendError,
    );
  });
});
