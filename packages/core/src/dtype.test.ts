import { describe, expect, it } from 'vitest';
import { bfloat16ToNumber, float16ToNumber, numberToBfloat16, numberToFloat16, roundToDtype, ulpOf } from './dtype.js';

// Bit patterns below are derived by hand from the IEEE layouts (bf16: 1/8/7, fp16: 1/5/10).
describe('bfloat16', () => {
  it.each([
    [1, 0x3f80],
    [-2, 0xc000],
    [0.5, 0x3f00],
    [0, 0x0000],
    [-0, 0x8000],
    [Infinity, 0x7f80],
    [-Infinity, 0xff80],
    // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to even keeps 1.
    [1 + 2 ** -8, 0x3f80],
    // 1 + 3·2^-8 is halfway between 1 + 2^-7 and 1 + 2^-6: ties to even rounds up.
    [1 + 3 * 2 ** -8, 0x3f82],
    // Just above the tie rounds up.
    [1 + 2 ** -8 + 2 ** -30, 0x3f81],
    // Largest finite bf16 is (2 − 2^-7)·2^127; anything at or past the next tie overflows.
    [(2 - 2 ** -7) * 2 ** 127, 0x7f7f],
    [(2 - 2 ** -8) * 2 ** 127, 0x7f80],
    // Just below that tie (by 2^80, within what a decimal threshold 5.8e24 too low would send to inf) stays finite.
    [(2 - 2 ** -8) * 2 ** 127 - 2 ** 80, 0x7f7f],
  ])('encodes %d as 0x%s', (x, bits) => {
    expect(numberToBfloat16(x)).toBe(bits);
  });

  it('round-trips every non-NaN bit pattern', () => {
    for (let bits = 0; bits < 0x10000; bits++) {
      const x = bfloat16ToNumber(bits);
      if (Number.isNaN(x)) continue;
      expect(numberToBfloat16(x)).toBe(bits);
    }
  });

  it('keeps NaN a NaN', () => {
    expect(bfloat16ToNumber(numberToBfloat16(Number.NaN))).toBeNaN();
  });
});

describe('float16', () => {
  it.each([
    [1, 0x3c00],
    [-2, 0xc000],
    [65504, 0x7bff],
    // 65520 is the tie between 65504 and 2^16 (not representable): rounds to even, i.e. Infinity.
    [65520, 0x7c00],
    [2 ** -24, 0x0001],
    [2 ** -14, 0x0400],
    // Below half the smallest subnormal flushes to zero; exactly half ties to even (zero).
    [2 ** -25, 0x0000],
    [2 ** -25 + 2 ** -40, 0x0001],
    // Rounded once from float64: 1 + 2^-11 + 2^-40 is above the tie, so it rounds up (double
    // rounding through float32 would drop 2^-40 and tie to even, i.e. 1).
    [1 + 2 ** -11 + 2 ** -40, 0x3c01],
  ])('encodes %d as 0x%s', (x, bits) => {
    expect(numberToFloat16(x)).toBe(bits);
  });

  it('round-trips every non-NaN bit pattern', () => {
    for (let bits = 0; bits < 0x10000; bits++) {
      const x = float16ToNumber(bits);
      if (Number.isNaN(x)) continue;
      expect(numberToFloat16(x)).toBe(bits);
    }
  });
});

describe('roundToDtype and ulpOf', () => {
  it('rounds to the storage precision', () => {
    expect(roundToDtype(0.1, 'float64')).toBe(0.1);
    expect(roundToDtype(0.1, 'float32')).toBe(Math.fround(0.1));
    expect(roundToDtype(1 + 2 ** -9, 'bfloat16')).toBe(1);
    expect(roundToDtype(1 + 2 ** -12, 'float16')).toBe(1);
  });

  it('gives the spacing of the dtype at a value', () => {
    expect(ulpOf(1, 'float32')).toBe(2 ** -23);
    expect(ulpOf(1, 'bfloat16')).toBe(2 ** -7);
    expect(ulpOf(1, 'float16')).toBe(2 ** -10);
    expect(ulpOf(1, 'float64')).toBe(2 ** -52);
  });
});
