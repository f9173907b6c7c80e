import { type Dtype, InvalidParamError } from '@stable-adamw/core';
import { checkedShape, type GradientProblem, isHalfPrecision, type TensorInfo } from '@stable-adamw/core/adapter';

/**
 * A native `Float16Array` (Node ≥ 24, recent browsers). Typed structurally so the package compiles
 * with TypeScript libs that do not declare it yet.
 */
export interface Float16ArrayLike {
  readonly length: number;
  readonly BYTES_PER_ELEMENT: number;
  [index: number]: number;
  fill(value: number): unknown;
}

/** Storage of a parameter: float arrays, or 16-bit bit patterns in a `Uint16Array` (with `dtype`). */
export type CpuArray = Float32Array | Float64Array | Uint16Array | Float16ArrayLike;

/** A gradient: the param's array type and dtype; a `Float32Array` is also accepted for 16-bit params. */
export type CpuGradient = CpuArray;

/**
 * A parameter of the cpu adapter. The optimizer updates `data` in place and reads `grad`, which
 * the caller sets after each backward pass (`null`/absent: skip this param this step).
 */
export interface CpuParam {
  data: CpuArray;
  grad?: CpuGradient | null;
  /** Required for `Uint16Array` data (`'bfloat16'` or `'float16'`); inferred for float arrays. */
  dtype?: Dtype;
  /** Used in error messages and by name-based param grouping. */
  name?: string;
  /** Optional logical shape; its product must equal the array length. Default `[length]`. */
  shape?: readonly number[];
}

/** True for a native Float16Array. */
export function isFloat16Array(x: unknown): x is Float16ArrayLike {
  return Object.prototype.toString.call(x) === '[object Float16Array]';
}

function arrayDtype(data: unknown): Dtype | 'bits' | undefined {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof Uint16Array) return 'bits';
  if (isFloat16Array(data)) return 'float16';
  return undefined;
}

/** What a value is, with its article: `an Array`, `a Float32Array`, `a number`, `null`. */
function kindOf(x: unknown): string {
  if (x === null || x === undefined) return String(x);
  const name = typeof x === 'object' ? ((x as object).constructor?.name ?? 'object') : typeof x;
  return `${/^[aeiou]/i.test(name) ? 'an' : 'a'} ${name}`;
}

/** Validates a param and describes it for core. */
export function describeCpuParam(param: CpuParam, where: string): TensorInfo {
  if (typeof param !== 'object' || param === null || ArrayBuffer.isView(param) || Array.isArray(param)) {
    throw new InvalidParamError(
      where,
      `is ${kindOf(param)}, not a param: a param is \`{ data, grad }\``,
      'Wrap the array: { data: new Float32Array(values), grad: null }.',
    );
  }
  const label = param.name ? `${where} (${param.name})` : where;
  const stored = arrayDtype(param.data);
  if (stored === undefined) {
    throw new InvalidParamError(
      label,
      `has data that is ${kindOf(param.data)}`,
      'Use a Float32Array, Float64Array, Float16Array, or a Uint16Array with dtype "bfloat16" | "float16".',
    );
  }
  let dtype: Dtype;
  if (stored === 'bits') {
    if (param.dtype !== 'bfloat16' && param.dtype !== 'float16') {
      throw new InvalidParamError(
        label,
        `has Uint16Array data with dtype ${String(param.dtype)}`,
        'Set dtype to "bfloat16" or "float16".',
      );
    }
    dtype = param.dtype;
  } else {
    if (param.dtype !== undefined && param.dtype !== stored) {
      throw new InvalidParamError(
        label,
        `has ${(param.data as object).constructor.name} data but dtype ${param.dtype}`,
        `Drop dtype or set it to "${stored}".`,
      );
    }
    dtype = stored;
  }
  const numel = param.data.length;
  const shape = checkedShape(param.shape, numel, label);
  if (numel === 0) {
    throw new InvalidParamError(label, 'has no elements', 'Leave empty tensors out of the optimizer.');
  }
  return { numel, dtype, shape, ...(param.name ? { name: param.name } : {}) };
}

/** Checks a gradient against its param (type, dtype, length). */
export function checkCpuGrad(param: CpuParam, grad: CpuGradient, info: TensorInfo): GradientProblem | undefined {
  const kind = arrayDtype(grad);
  const accepted = isHalfPrecision(info.dtype) ? kind === 'float32' || kind === arrayDtype(param.data) : kind === info.dtype;
  if (!accepted) {
    const want = isHalfPrecision(info.dtype)
      ? `a Float32Array or the param's own 16-bit array type`
      : info.dtype === 'float32'
        ? 'a Float32Array'
        : 'a Float64Array';
    return { problem: `is ${kindOf(grad)} but the param is ${info.dtype}`, fix: `Pass ${want}.` };
  }
  if (grad.length !== info.numel) {
    return {
      problem: `has ${grad.length} elements but the param has ${info.numel}`,
      fix: 'Pass a gradient with exactly one value per parameter element.',
    };
  }
  return undefined;
}
