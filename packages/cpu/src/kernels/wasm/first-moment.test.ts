import { numberToBfloat16, numberToFloat16 } from '@stable-adamw/core';
import { describe, expect, it } from 'vitest';
import { createParamBuffer } from '../../param-buffer.js';
import { StableAdamW } from '../../stable-adamw.js';

const N = 65536;
const ALL_BITS = Uint16Array.from({ length: N }, (_, i) => i);
/** 1 − β̂1 at step 2 with β1 = 0.9 (float64, as core computes it). */
const W1 = 1 - (0.9 ** 2 - 0.9) / (0.9 ** 2 - 1);

type HalfDtype = 'bfloat16' | 'float16';

/**
 * The first moment after two steps, as 16-bit patterns: step 1 stores m = g1 (every pattern), step
 * 2 gives m + w1·(g2 − m). The typed-array kernel computes that lerp in float64 and rounds once.
 */
async function firstMoment(dtype: HalfDtype, kernel: 'wasm' | 'js', second: (m: number) => number): Promise<number[]> {
  const encode = dtype === 'bfloat16' ? numberToBfloat16 : numberToFloat16;
  const buffer = await createParamBuffer([{ shape: [N] }], { dtype, kernel });
  const optimizer = new StableAdamW(buffer.params, { lr: 1e-3, weightDecay: 0 });
  buffer.grads.set(ALL_BITS);
  optimizer.step();
  const m1 = optimizer.stateDict().state[0]?.exp_avg as number[];
  buffer.grads.set(m1.map((m) => encode(second(m))));
  optimizer.step();
  const m2 = optimizer.stateDict().state[0]?.exp_avg as number[];
  await buffer.dispose();
  return m2.map(encode);
}

// The WebAssembly kernel computes the lerp in float64 and rounds it once (bfloat16 through float32
// except on a midpoint, see first-moment-rounding.test.ts): gradients chosen so the lerp cancels,
// lands on or next to a rounding midpoint, or barely moves m must still give the typed-array
// kernel's bits.
describe.each(['bfloat16', 'float16'] as const)('%s first moment', (dtype) => {
  const cases: [string, (m: number) => number][] = [
    ['cancelling: g ≈ −m·(1 − w1)/w1', (m) => (-m * (1 - W1)) / W1],
    ['cancelling, off by a part in 300', (m) => ((-m * (1 - W1)) / W1) * (1 + 1 / 300)],
    ['g next to m', (m) => m * (1 + 2 ** -9)],
    ['g = m / 3', (m) => m / 3],
    ['g = −7m (large steps)', (m) => -7 * m],
    ['g unrelated to m', (m) => Math.sin(m * 1e3 + 1) * 1e-2],
  ];
  it.each(cases)('matches the float64 lerp rounded once, %s', async (_, second) => {
    const [wasm, js] = await Promise.all([firstMoment(dtype, 'wasm', second), firstMoment(dtype, 'js', second)]);
    expect(wasm).toEqual(js);
  });
});
