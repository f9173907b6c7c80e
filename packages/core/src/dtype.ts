/** Storage dtypes a parameter (and its optimizer state) can have. */
export type Dtype = 'float64' | 'float32' | 'bfloat16' | 'float16';

export const DTYPES: readonly Dtype[] = ['float64', 'float32', 'bfloat16', 'float16'];

/** True for the 16-bit dtypes, which get fp32 math, 16-bit storage and (by default) Kahan summation. */
export function isHalfPrecision(dtype: Dtype): boolean {
  return dtype === 'bfloat16' || dtype === 'float16';
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Decodes bfloat16 bits to the value they hold. */
export function bfloat16ToNumber(bits: number): number {
  u32[0] = bits << 16;
  return f32[0] as number;
}

/** Decodes float16 bits to the value they hold. */
export function float16ToNumber(bits: number): number {
  const exponent = (bits >> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  const sign = bits & 0x8000 ? -1 : 1;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/** Rounds q ≥ 0 to the nearest integer, ties to even. */
function roundHalfEven(q: number): number {
  const r = Math.round(q);
  return r - q === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Binary exponent of |x| as float32 sees it, clamped to the smallest normal exponent `minExp`. */
function exponentOf(a: number, minExp: number): number {
  f32[0] = a;
  return Math.max(((u32[0] as number) >>> 23) - 127, minExp);
}

/**
 * Rounds a float64 value straight to bfloat16 (round to nearest, ties to even; no double
 * rounding through float32) and returns its bits.
 */
export function numberToBfloat16(x: number): number {
  if (Number.isNaN(x)) return 0x7fc0;
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  // Max finite 2^128·(1 − 2^-8) plus half an ulp (2^119) rounds up to inf (the tie goes to even).
  if (a >= 2 ** 128 * (1 - 2 ** -9)) return sign | 0x7f80;
  const ulp = 2 ** (exponentOf(a, -126) - 7);
  f32[0] = roundHalfEven(a / ulp) * ulp;
  return sign | ((u32[0] as number) >>> 16);
}

/** Rounds a float64 value straight to float16 (round to nearest, ties to even) and returns its bits. */
export function numberToFloat16(x: number): number {
  if (Number.isNaN(x)) return 0x7e00;
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a >= 65520) return sign | 0x7c00;
  const ulp = 2 ** (exponentOf(a, -14) - 10);
  const rounded = roundHalfEven(a / ulp) * ulp;
  if (rounded < 2 ** -14) return sign | (rounded / 2 ** -24);
  const exponent = exponentOf(rounded, -14);
  return sign | ((exponent + 15) << 10) | ((rounded / 2 ** exponent - 1) * 1024);
}

/** Rounds a float64 value to the nearest value representable in `dtype`. */
export function roundToDtype(x: number, dtype: Dtype): number {
  switch (dtype) {
    case 'float64':
      return x;
    case 'float32':
      return Math.fround(x);
    case 'bfloat16':
      return bfloat16ToNumber(numberToBfloat16(x));
    case 'float16':
      return float16ToNumber(numberToFloat16(x));
  }
}

/** Distance between adjacent representable values around |x| in `dtype` (for error reports). */
export function ulpOf(x: number, dtype: Dtype): number {
  const mantissaBits = { float64: 52, float32: 23, bfloat16: 7, float16: 10 }[dtype];
  const minExp = { float64: -1022, float32: -126, bfloat16: -126, float16: -14 }[dtype];
  const a = Math.abs(x);
  const e = a === 0 ? minExp : Math.max(Math.floor(Math.log2(a)), minExp);
  return 2 ** (e - mantissaBits);
}
