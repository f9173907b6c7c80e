import { bfloat16ToNumber, type Dtype, float16ToNumber } from '@stable-adamw/core';
import type { CpuArray } from '../param.js';

/** Decoding and encoding (round to nearest even, one rounding from float64) of 16-bit bit patterns. */
export interface HalfCodec {
  decode(bits: number): number;
  encode(value: number): number;
  /** Every pattern's value (`decode` as a table: one load per element in the kernels). */
  readonly values: Float64Array;
  /**
   * Decay factors with |1 − decay| below this leave every value unchanged: round(θ·decay) = θ.
   * For p significant bits, θ·decay lies within |θ|·2^-(p+2) of θ, under half the spacing below θ
   * (2^-(p+1) of |θ| at least, counting from a power of two down), so the decay is exact to skip.
   */
  readonly idleDecay: number;
  /**
   * Whether the kernels take two elements per iteration. Not for float16: its encoder is too large
   * for V8 to inline four copies per loop, and the calls cost more than the unrolling saves.
   */
  readonly pairs: boolean;
}

const scratch = new Float32Array(1);
const scratchBits = new Int32Array(scratch.buffer);

// Both encoders round x to float32 (the typed-array store, round to nearest even), then to 16 bits
// with integer arithmetic. The two roundings differ from one rounding of x only where the float32
// result lies exactly on a 16-bit rounding midpoint and is inexact: only there is x compared with
// it (and the result stepped off the midpoint towards x). Testing the dropped bits first keeps the
// common case free of unpredictable branches. Everything stays in one function returning a small
// integer, so nothing is boxed per call.

/**
 * −1, 0 or 1: the step from the float32 in `scratch` (x rounded to nearest) towards x, in units of
 * its last bit (0 when exact). NaN gives 0.
 */
function offMidpoint(x: number): number {
  const back = scratch[0] as number;
  if (back === x || Number.isNaN(x)) return 0;
  return Math.abs(x) > Math.abs(back) ? 1 : -1;
}

/** float64 → bfloat16 bits: `numberToBfloat16`'s results, without its float64 arithmetic per call. */
export function encodeBfloat16(x: number): number {
  scratch[0] = x;
  let bits = scratchBits[0] as number;
  if ((bits & 0xffff) === 0x8000) bits += offMidpoint(x);
  if ((bits & 0x7fffffff) > 0x7f800000) return 0x7fc0;
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

/** float64 → float16 bits: `numberToFloat16`'s results (NaN → 0x7e00, ±65520 and beyond → ±inf). */
export function encodeFloat16(x: number): number {
  scratch[0] = x;
  let bits = scratchBits[0] as number;
  // A float16 midpoint among normals (13 dropped bits); subnormals are rounded from x below.
  if ((bits & 0x1fff) === 0x1000) bits += offMidpoint(x);
  const sign = (bits >>> 16) & 0x8000;
  const a = bits & 0x7fffffff;
  if (a > 0x7f800000) return 0x7e00;
  if (a >= 0x47800000) return sign | 0x7c00; // ≥ 65536
  if (a < 0x38800000) {
    // Below 2^-14: subnormal multiples of 2^-24, rounded from the float64 value (exact scaling).
    const q = Math.abs(x) * 2 ** 24;
    let n = Math.round(q);
    if (n - q === 0.5 && (n & 1) !== 0) n -= 1;
    return sign | n;
  }
  // Rebias the exponent (−112) and round the 13 dropped bits to nearest even; a carry may reach inf.
  return sign | ((a - 0x38000000 + 0xfff + ((a >>> 13) & 1)) >>> 13);
}

function codec(
  decode: (bits: number) => number,
  encode: (value: number) => number,
  idleDecay: number,
  pairs: boolean,
): HalfCodec {
  const values = new Float64Array(65536);
  for (let bits = 0; bits < 65536; bits++) values[bits] = decode(bits);
  return { decode: (bits) => values[bits] as number, encode, values, idleDecay, pairs };
}

const codecs: Partial<Record<'bfloat16' | 'float16', HalfCodec>> = {};

/** The codec of a 16-bit dtype; its 64K-entry table is built on first use. */
function codecFor(dtype: 'bfloat16' | 'float16'): HalfCodec {
  // 8 significant bits (bfloat16) and 11 (float16): idle below 2^-10 and 2^-13.
  codecs[dtype] ??=
    dtype === 'bfloat16'
      ? codec(bfloat16ToNumber, encodeBfloat16, 2 ** -10, true)
      : codec(float16ToNumber, encodeFloat16, 2 ** -13, false);
  return codecs[dtype];
}

/** The codec for bit-pattern storage (a `Uint16Array` of `dtype`), or undefined for float arrays. */
export function codecOf(data: CpuArray, dtype: Dtype): HalfCodec | undefined {
  if (!(data instanceof Uint16Array)) return undefined;
  return codecFor(dtype === 'bfloat16' ? 'bfloat16' : 'float16');
}

/** Rounds numbers to 16-bit bit patterns of `dtype`; undefined for float dtypes (the array rounds). */
export function storageEncoder(dtype: Dtype): ((x: number) => number) | undefined {
  if (dtype === 'bfloat16') return encodeBfloat16;
  return dtype === 'float16' ? encodeFloat16 : undefined;
}
