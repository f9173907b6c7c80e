import { conformanceCases } from '@stable-adamw/conformance';
import { describe, expect, it } from 'vitest';
import { createParamBuffer } from './param-buffer.js';
import { StableAdamW } from './stable-adamw.js';
import { cpuBufferTarget } from './testing/buffer-target.js';

describe('ParamBuffer in Chromium', () => {
  it('compiles the WebAssembly SIMD kernel and runs worker threads over shared memory', async () => {
    expect(globalThis.crossOriginIsolated).toBe(true);
    const buffer = await createParamBuffer([{ shape: [1000] }], { threads: 2 });
    try {
      expect([buffer.kernel, buffer.threads]).toEqual(['wasm-simd', 2]);
      const opt = new StableAdamW(buffer.params, { lr: 0.1, weightDecay: 0 });
      buffer.grads.fill(1);
      await opt.step();
      // Step 1: m = g, v = g², RMS = 1, so every element moves by −lr·1/(1 + ε).
      expect(buffer.params[0]?.data[999]).toBeCloseTo(-0.1 / (1 + 1e-6), 7);
    } finally {
      await buffer.dispose();
    }
  });
});

describe('ParamBuffer conformance in Chromium (calling thread)', () => {
  for (const c of conformanceCases(cpuBufferTarget())) it(c.name, c.run);
});

describe('ParamBuffer conformance in Chromium (2 worker threads)', () => {
  for (const c of conformanceCases(cpuBufferTarget({ threads: 2 }))) it(c.name, c.run);
});
