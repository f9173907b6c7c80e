import { bfloat16ToNumber, float16ToNumber, numberToBfloat16, numberToFloat16 } from '@stable-adamw/core';
import { describe, expect, it } from 'vitest';
import { codecOf, encodeBfloat16, encodeFloat16 } from './half-codecs.js';

/** The float64 values just below and above `x` (its neighbours). */
function neighbours(x: number): [number, number] {
  const f = new Float64Array([x]);
  const b = new BigInt64Array(f.buffer);
  const out: number[] = [];
  for (const step of [-1n, 1n]) {
    b[0] = (b[0] as bigint) + step;
    out.push(f[0] as number);
    b[0] = (b[0] as bigint) - step;
  }
  return out as [number, number];
}

/**
 * Every representable value, the midpoints between neighbours (ties) and the float64 values on
 * either side of each midpoint, both signs, plus the specials: where a second rounding through
 * float32 would go wrong, it goes wrong on these.
 */
function probes(decode: (bits: number) => number): number[] {
  const values: number[] = [];
  for (let bits = 0; bits < 0x8000; bits++) {
    const x = decode(bits);
    const next = decode(bits + 1);
    values.push(x);
    if (!Number.isFinite(x) || Number.isNaN(next)) continue;
    const mid = Number.isFinite(next) ? (x + next) / 2 : x + (x - decode(bits - 1)) / 2;
    values.push(mid, ...neighbours(mid), x + (mid - x) / 3);
  }
  values.push(
    Number.NaN,
    Number.POSITIVE_INFINITY,
    3.3961775292304023e38,
    3.3961775292304597e38,
    BF16_OVERFLOW,
    3.4028234663852886e38,
    3.4028235677973366e38,
    1e300,
    1e-300,
    2 ** -149,
    2 ** -160,
  );
  return [...values, ...values.map((v) => -v)];
}

/** The bfloat16 overflow midpoint (2 − 2^-8)·2^127: below it, values round to the largest finite one. */
const BF16_OVERFLOW = 2 ** 128 * (1 - 2 ** -9);

/**
 * core's numberToBfloat16 sends values from 3.3961775292304023e38 up to that midpoint to inf (its
 * threshold is about 6e22 low); round to nearest gives the largest finite value, 0x7f7f.
 */
function bfloat16Reference(x: number): number {
  const a = Math.abs(x);
  if (a >= 3.3961775292304023e38 && a < BF16_OVERFLOW) return x < 0 ? 0xff7f : 0x7f7f;
  return numberToBfloat16(x);
}

// The kernels' encoders (float32 rounding, a second look at x only on a 16-bit midpoint, then
// integer rounding) must give the reference results (one rounding from float64) for every input.
describe.each([
  ['bfloat16', encodeBfloat16, bfloat16Reference, bfloat16ToNumber],
  ['float16', encodeFloat16, numberToFloat16, float16ToNumber],
] as const)('%s encoder', (_, encode, reference, decode) => {
  it('rounds every value, midpoint and near-midpoint as the reference does', () => {
    const inputs = probes(decode);
    const mismatches = inputs.filter((x) => encode(x) !== reference(x)).slice(0, 5);
    expect(mismatches).toEqual([]);
  });
});

// applyUpdateHalf skips θ ← round(θ·decay) when |1 − decay| < idleDecay: that must change no value.
describe.each(['bfloat16', 'float16'] as const)('%s idle decay bound', (dtype) => {
  const codec = codecOf(new Uint16Array(0), dtype);
  if (!codec) throw new Error('no codec');
  /** Finite patterns whose value round(θ·decay) differs from θ's. */
  const moved = (decay: number) => {
    const out: number[] = [];
    for (let bits = 0; bits < 65536; bits++) {
      const theta = codec.values[bits] as number;
      if (Number.isFinite(theta) && codec.values[codec.encode(theta * decay)] !== theta) out.push(bits);
    }
    return out;
  };

  it('leaves every value in place just inside the bound, on either side of 1', () => {
    const below = codec.idleDecay * (1 - 2 ** -20);
    expect(moved(1 - below).slice(0, 5)).toEqual([]);
    expect(moved(1 + below).slice(0, 5)).toEqual([]);
  });

  it('is not vacuous: four times the bound moves some values', () => {
    expect(moved(1 - 4 * codec.idleDecay).length).toBeGreaterThan(0);
    expect(moved(1 + 4 * codec.idleDecay).length).toBeGreaterThan(0);
  });
});
