/**
 * Values ↔ safetensors tensors for checkpoints: a param's storage dtype picks the safetensors dtype,
 * and state-dict numbers (float64, non-finite ones as strings) are encoded in it and decoded back.
 */
import { bfloat16ToNumber, type Dtype, float16ToNumber, numberToBfloat16, numberToFloat16 } from './dtype.js';
import { formatValue, StateDictError } from './errors.js';
import type { SafetensorsDtype, SafetensorsTensor } from './safetensors.js';

/** The safetensors dtype of each storage dtype (PyTorch's `torch.float64` … `torch.float16`). */
export const SAFETENSORS_DTYPE: Readonly<Record<Dtype, SafetensorsDtype>> = {
  float64: 'F64',
  float32: 'F32',
  bfloat16: 'BF16',
  float16: 'F16',
};

const NON_FINITE: Record<string, number> = {
  NaN: Number.NaN,
  Infinity: Number.POSITIVE_INFINITY,
  '-Infinity': Number.NEGATIVE_INFINITY,
};

/** Reads a state-dict number (non-finite values are strings); undefined when it is neither. */
export function parseSerialized(x: unknown): number | undefined {
  if (typeof x === 'number') return x;
  return typeof x === 'string' ? NON_FINITE[x] : undefined;
}

/** Reads state-dict values as float64, or throws a `StateDictError` at `path`. */
export function readValues(values: unknown, numel: number, path: string, fix: string): Float64Array {
  if (!Array.isArray(values) && !ArrayBuffer.isView(values)) {
    throw new StateDictError(path, `is ${formatValue(values)}, not an array of numbers`, fix);
  }
  const list = values as ArrayLike<unknown>;
  if (list.length !== numel) {
    throw new StateDictError(path, `has ${list.length} values but the param has ${numel} elements`, fix);
  }
  // Float arrays hold numbers only (NaN and ±Inf included): one copy, no per-element parse.
  if (values instanceof Float64Array || values instanceof Float32Array) return new Float64Array(values);
  const out = new Float64Array(numel);
  for (let i = 0; i < numel; i++) {
    const x = parseSerialized(list[i]);
    if (x === undefined) throw new StateDictError(`${path}[${i}]`, `is ${formatValue(list[i])}, not a number`, fix);
    out[i] = x;
  }
  return out;
}

/**
 * A tensor holding `values` rounded to `dtype` (round to nearest even), shaped `shape`. Values that
 * are already representable in `dtype` (all state a backend exports) are stored exactly.
 */
export function encodeTensor(values: ArrayLike<number>, dtype: Dtype, shape: readonly number[]): SafetensorsTensor {
  switch (dtype) {
    case 'float64':
      return { dtype: 'F64', shape, data: Float64Array.from(values) };
    case 'float32':
      return { dtype: 'F32', shape, data: Float32Array.from(values) };
    case 'bfloat16':
      return { dtype: 'BF16', shape, data: Uint16Array.from(values, numberToBfloat16) };
    case 'float16':
      return { dtype: 'F16', shape, data: Uint16Array.from(values, numberToFloat16) };
  }
}

/** A tensor's values as float64 (16-bit bits decoded, I64 converted exactly up to 2^53). */
export function decodeTensor(tensor: SafetensorsTensor): Float64Array {
  const { dtype, data } = tensor;
  switch (dtype) {
    case 'F64':
    case 'F32':
      return Float64Array.from(data as Float64Array | Float32Array);
    case 'BF16':
      return Float64Array.from(data as Uint16Array, bfloat16ToNumber);
    case 'F16':
      return Float64Array.from(data as Uint16Array, float16ToNumber);
    case 'I64':
      return Float64Array.from(data as BigInt64Array, (x) => Number(x));
  }
}

/** The storage dtype a float safetensors dtype holds, or undefined for I64. */
export function storageDtype(dtype: SafetensorsDtype): Dtype | undefined {
  return (Object.keys(SAFETENSORS_DTYPE) as Dtype[]).find((d) => SAFETENSORS_DTYPE[d] === dtype);
}
