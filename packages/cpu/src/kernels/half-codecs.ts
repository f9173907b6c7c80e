import { bfloat16ToNumber, type Dtype, float16ToNumber, numberToBfloat16, numberToFloat16 } from '@stable-adamw/core';
import type { CpuArray } from '../param.js';

/** Decoding and encoding (round to nearest even) of 16-bit bit patterns. */
export interface HalfCodec {
  decode(bits: number): number;
  encode(value: number): number;
}

const bfloat16Codec: HalfCodec = { decode: bfloat16ToNumber, encode: numberToBfloat16 };

let float16Codec: HalfCodec | undefined;
/** float16 decoding through a 64K-entry table, built on first use. */
function getFloat16Codec(): HalfCodec {
  if (!float16Codec) {
    const table = new Float64Array(65536);
    for (let bits = 0; bits < 65536; bits++) table[bits] = float16ToNumber(bits);
    float16Codec = { decode: (bits) => table[bits] as number, encode: numberToFloat16 };
  }
  return float16Codec;
}

/** The codec for bit-pattern storage (a `Uint16Array` of `dtype`), or undefined for float arrays. */
export function codecOf(data: CpuArray, dtype: Dtype): HalfCodec | undefined {
  if (!(data instanceof Uint16Array)) return undefined;
  return dtype === 'bfloat16' ? bfloat16Codec : getFloat16Codec();
}

/** Rounds numbers to 16-bit bit patterns of `dtype`; undefined for float dtypes (the array rounds). */
export function storageEncoder(dtype: Dtype): ((x: number) => number) | undefined {
  if (dtype === 'bfloat16') return numberToBfloat16;
  return dtype === 'float16' ? numberToFloat16 : undefined;
}
