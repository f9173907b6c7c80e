import '@tensorflow/tfjs-backend-cpu';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { blockedSum } from './tensor-ops.js';

const wasmDir = `${dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm'))}/`;

// 2^22 ratios near 1, as g²/max(v, ε²) is: a sequential float32 sum drifts far from the float64 one.
const N = 2 ** 22;
const data = Float32Array.from({ length: N }, (_, i) => 1 + ((i * 7919) % 1000) * 1e-4);
const exact = data.reduce((acc, x) => acc + x, 0);

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`blockedSum on tfjs-${backend}`, () => {
    beforeAll(async () => {
      if (backend === 'wasm') setWasmPaths(wasmDir);
      expect(await tf.setBackend(backend)).toBe(true);
    });

    it('stays within a few float32 ulps of the float64 sum, where tf.sum may not', async () => {
      const x = tf.tensor1d(data);
      const blocked = blockedSum(x);
      const plain = tf.sum(x);
      const blockedError = Math.abs((await blocked.data())[0] as number) / exact - 1;
      const plainError = Math.abs((await plain.data())[0] as number) / exact - 1;
      expect(Math.abs(blockedError)).toBeLessThan(1e-6);
      expect(Math.abs(blockedError)).toBeLessThanOrEqual(Math.abs(plainError) + 1e-7);
      tf.dispose([x, blocked, plain]);
    });
  });
}
