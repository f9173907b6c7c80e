import { bfloat16ToNumber, float16ToNumber, numberToBfloat16, numberToFloat16 } from '@stable-adamw/core';
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

  // Phase 2 skips θ·decay when |1 − decay| < 2^-10 (bfloat16) or 2^-13 (float16), claiming the
  // rounding gives θ back: checked against θ·decay rounded once, just inside the bound, and at 4×
  // the bound, where the rounding moves θ.
  const bound = dtype === 'bfloat16' ? 2 ** -10 : 2 ** -13;
  it.each([
    ['skipped', bound - 2 ** -24],
    ['applied', 4 * bound],
  ])('θ·decay %s at lr·weightDecay = %d: θ·decay rounded once, for every bit pattern', async (_, weightDecay) => {
    const [decode, encode] = dtype === 'bfloat16' ? [bfloat16ToNumber, numberToBfloat16] : [float16ToNumber, numberToFloat16];
    const decay = Math.fround(1 - weightDecay);
    const [wasm, js] = await stepBoth(
      dtype,
      (b) => {
        b.params[0]?.data.set(ALL_BITS);
      },
      { lr: 1, weightDecay },
    );
    expect(wasm?.kernel).toBe('wasm-simd');
    // Zero gradients: the update through the Kahan buffer is 0 + (−0) = +0, which sends −0 to +0.
    expect(wasm?.params).toEqual(Array.from(ALL_BITS, (bits) => encode(decode(bits) * decay + 0)));
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
