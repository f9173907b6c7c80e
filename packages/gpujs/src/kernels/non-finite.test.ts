import { GPU } from 'gpu.js';
import { afterAll, describe, expect, it } from 'vitest';
import { Transaction } from '../transaction.js';
import { KernelCache } from './kernel-cache.js';
import { FLOAT32_MAX, nonFiniteTable } from './non-finite.js';

// The device count itself, run by gpu.js's cpu and webasm kernels in Node (the optimizer scans host
// gradients on the host there; Chromium runs it on webgl2 and webgpu through the optimizer).

for (const mode of ['cpu', 'webasm'] as const) {
  describe(`nonFiniteTable on gpu.js ${mode}`, () => {
    const gpu = new GPU({ mode });
    afterAll(() => gpu.destroy());

    it('counts NaN and ±Inf at every block position of tensors of 1 to 4100 elements, and nothing finite', () => {
      const kernels = new KernelCache(gpu);
      const sizes = [1, 15, 16, 17, 256, 4100];
      const bads = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY];
      // Tensor k holds bad values at every (k+1)-th element from the start, plus the last one, and
      // ±FLOAT32_MAX, 1e-45 (the smallest subnormal) and 0 elsewhere.
      const expected: number[] = [];
      const grads = sizes.map((n, k) => {
        const g = Float32Array.from({ length: n }, (_, i) => [FLOAT32_MAX, -FLOAT32_MAX, 1e-45, 0][i % 4] as number);
        const at = new Set<number>([n - 1]);
        for (let i = 0; i < n; i += k + 1) at.add(i);
        for (const i of at) g[i] = bads[i % 3] as number;
        expected.push(at.size);
        return g;
      });
      grads.push(Float32Array.from([FLOAT32_MAX, -FLOAT32_MAX, 1, -0]));
      expected.push(0);
      const tx = new Transaction();
      const table = nonFiniteTable(kernels, tx, grads) as Float32Array;
      expect(Array.from(table)).toEqual(expected);
      expect(kernels.executedModes).toEqual([mode]);
      kernels.destroy();
    });
  });
}
