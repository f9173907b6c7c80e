import { describe, expect, it } from 'vitest';
import { createParamBuffer, type ParamBuffer } from '../../param-buffer.js';
import { StableAdamW } from '../../stable-adamw.js';

const ALL_BITS = Uint16Array.from({ length: 65536 }, (_, i) => i);

/** Every 16-bit pattern in one tensor, stepped once by the WebAssembly and the typed-array kernels. */
async function stepBoth(
  dtype: 'bfloat16' | 'float16',
  setup: (b: ParamBuffer) => void,
  options: { lr: number; weightDecay: number },
) {
  const results = [];
  for (const kernel of ['wasm', 'js'] as const) {
    const b = await createParamBuffer([{ shape: [65536] }], { dtype, kernel });
    setup(b);
    const opt = new StableAdamW(b.params, options);
    opt.step();
    results.push({ kernel: b.kernel, params: Array.from(b.params[0]?.data ?? []), state: opt.stateDict().state[0] });
  }
  return results;
}

// The typed-array kernels decode to float64 and round once to 16 bits: where the WebAssembly
// kernel's float32 arithmetic is exact, both must agree bit for bit.
describe.each(['bfloat16', 'float16'] as const)('%s SIMD decoding and rounding', (dtype) => {
  it('rounds θ·decay like the typed-array kernel for every bit pattern (subnormals, ties, inf, NaN)', async () => {
    // Zero gradients: the update is −0, and θ·0.75 is exact in float32, so only the rounding differs.
    const [wasm, js] = await stepBoth(
      dtype,
      (b) => {
        b.params[0]?.data.set(ALL_BITS);
      },
      { lr: 0.25, weightDecay: 1 },
    );
    expect(wasm?.kernel).toBe('wasm-simd');
    expect(js?.kernel).toBe('js');
    expect(wasm?.params).toEqual(js?.params);
  });

  it('stores m = g and v = g² of the first step like the typed-array kernel for every gradient pattern', async () => {
    // Step 1: m = g and v = g² exactly (g² fits float32), then one rounding (v overflows or underflows).
    const [wasm, js] = await stepBoth(
      dtype,
      (b) => {
        b.grads.set(ALL_BITS);
      },
      { lr: 1e-3, weightDecay: 0 },
    );
    expect(wasm?.state?.exp_avg).toEqual(js?.state?.exp_avg);
    expect(wasm?.state?.exp_avg_sq).toEqual(js?.state?.exp_avg_sq);
  });
});
