import { GPU, type IKernelFunctionThis } from 'gpu.js';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createGpujsBackend } from './backend.js';
import type { GpuJsTensor } from './tensor.js';
import { deviceCounters } from './testing/device-counters.js';
import {
  checkFindNonFinite,
  checkLossScaler,
  checkPropagateReadsNothing,
  checkSkip,
  checkThrow,
} from './training-safety.cases.js';

// Chromium's GPU modes (SwiftShader): gradients as the caller's textures (webgl2) or buffers
// (webgpu), counted on the device by shader code, and host arrays, scanned on the host.
afterEach(() => {
  vi.restoreAllMocks();
});

for (const [mode, inputs] of [
  ['webgl2', 'texture'],
  ['webgpu', 'texture'],
  ['webgl2', 'array'],
] as const) {
  describe(`gpujs ${mode} training safety (${inputs} gradients)`, () => {
    it("nonFinite 'skip': NaN/±Inf steps change nothing, then the reference", () => checkSkip(mode, inputs));
    it("nonFinite 'throw': NonFiniteGradientError, nothing changed, then the reference", () => checkThrow(mode, inputs));
    it("'propagate' reads nothing back", () => checkPropagateReadsNothing(mode, inputs));
    it('a DynamicLossScaler backs off and grows, its unscale folded into the kernels', () => checkLossScaler(mode, inputs));
    it('findNonFinite finds NaN and ±Inf anywhere, and not the largest finite values', () => checkFindNonFinite(mode, inputs));
  });
}

describe.each(['webgl2', 'webgpu'] as const)('gpujs %s non-finite check on the device', (mode) => {
  it('reads back once and frees everything it made', async () => {
    const gpu = new GPU({ mode });
    const upload = gpu.createKernel(
      function (this: IKernelFunctionThis, a: number[]): number {
        return a[this.thread.x] as number;
      },
      { output: [300], pipeline: true, immutable: true, precision: 'single', tactic: 'precision' },
    );
    const backend = createGpujsBackend({ gpu });
    const grads = await Promise.all(
      [0, 1, 2].map((k) => upload(Float32Array.from({ length: 300 }, (_, i) => (i === 7 * k ? Number.NaN : i))) as GpuJsTensor),
    );
    const items = grads.map((grad) => ({
      param: { data: new Float32Array(300) },
      grad,
      info: { numel: 300, dtype: 'float32' as const, shape: [300] },
    }));
    // Warm up to steady state: compiling kernels allocates device objects, and a WebGPU kernel keeps
    // its last output buffer until its next launch.
    const counts = deviceCounters(mode);
    for (let round = 0; round < 3; round++) expect(await backend.findNonFinite?.(items)).toEqual([0, 1, 2]);
    const warm = counts();
    for (let round = 0; round < 3; round++) expect(await backend.findNonFinite?.(items)).toEqual([0, 1, 2]);
    const after = counts();
    expect(after.live - warm.live).toBe(0);
    expect(after.readbacks - warm.readbacks).toBe(3);
    expect(backend.stats.readbacks).toBe(6);
    for (const g of grads) (g as { delete(): void }).delete();
    await backend.destroy();
    upload.destroy();
    await gpu.destroy();
  });
});
