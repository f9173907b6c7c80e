import { InvalidParamError, type ParamGroupInput, type StableAdamWOptions } from '@stable-adamw/core';
import {
  type ComposedState,
  createComposedKernel,
  type StableAdamWBackendV1,
  StableAdamWOptimizer,
  type TensorOpsV1,
} from '@stable-adamw/core/adapter';

/**
 * A complete adapter over plain arrays, built only from `TensorOpsV1` and `createComposedKernel`,
 * as a new backend starts before it has fused kernels. Float32 storage is emulated by rounding on
 * `assign`; arithmetic is float64.
 */
export interface ArrayTensor {
  values: Float64Array;
  dtype: 'float64' | 'float32';
  grad?: ArrayTensor | null;
}

const store = (dtype: ArrayTensor['dtype'], values: ArrayLike<number>): ArrayTensor => ({
  values: dtype === 'float32' ? Float64Array.from(values, Math.fround) : Float64Array.from(values),
  dtype,
});

function zip(a: ArrayTensor, b: ArrayTensor, f: (x: number, y: number) => number): ArrayTensor {
  const n = Math.max(a.values.length, b.values.length);
  const at = (t: ArrayTensor, i: number) => (t.values.length === 1 ? t.values[0] : t.values[i]) as number;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = f(at(a, i), at(b, i));
  return { values: out, dtype: 'float64' };
}

const ops: TensorOpsV1<ArrayTensor> = {
  scalar: (value) => ({ values: Float64Array.of(value), dtype: 'float64' }),
  add: (a, b) => zip(a, b, (x, y) => x + y),
  sub: (a, b) => zip(a, b, (x, y) => x - y),
  mul: (a, b) => zip(a, b, (x, y) => x * y),
  div: (a, b) => zip(a, b, (x, y) => x / y),
  sqrt: (a) => ({ values: a.values.map(Math.sqrt), dtype: 'float64' }),
  maximum: (a, b) => zip(a, b, (x, y) => Math.max(x, y)),
  // biome-ignore lint/complexity/useMathMinMax: NaN must select b, which Math.max would not do.
  selectGreater: (a, b) => zip(a, b, (x, y) => (x > y ? x : y)),
  sum: (a) => ({ values: Float64Array.of(a.values.reduce((s, x) => s + x, 0)), dtype: 'float64' }),
  assign: (target, value) => {
    target.values.set(target.dtype === 'float32' ? value.values.map(Math.fround) : value.values);
  },
  tidy: (fn) => fn(),
  dispose: () => undefined,
};

type State = ComposedState<ArrayTensor>;

export const arrayBackend: StableAdamWBackendV1<ArrayTensor, ArrayTensor, State, ArrayTensor> = {
  specificationVersion: 'v1',
  backendId: 'array-composed',
  ...createComposedKernel(ops),
  // The composed kernel multiplies gradients by MomentScalars.gradScale: a lossScaler works.
  supportsGradScale: true,
  findNonFinite: (items) => items.flatMap(({ grad }, i) => (grad.values.every(Number.isFinite) ? [] : [i])),
  describeParam(param, where) {
    if (!(param?.values instanceof Float64Array) || param.values.length === 0) {
      throw new InvalidParamError(where, 'is not a non-empty ArrayTensor', 'Pass { values: Float64Array, dtype }.');
    }
    return { numel: param.values.length, dtype: param.dtype, shape: [param.values.length] };
  },
  getGrad: (param) => param.grad,
  clearGrad: (param) => {
    param.grad = null;
  },
  checkGrad(_param, grad, info) {
    if (grad.values.length === info.numel) return undefined;
    return { problem: `has ${grad.values.length} elements but the param has ${info.numel}`, fix: 'Match the lengths.' };
  },
  createState: (param, info) => ({
    expAvg: store(param.dtype, new Float64Array(info.numel)),
    expAvgSq: store(param.dtype, new Float64Array(info.numel)),
    kahanComp: null,
  }),
  importState: (param, _info, values) => ({
    expAvg: store(param.dtype, values.expAvg),
    expAvgSq: store(param.dtype, values.expAvgSq),
    kahanComp: null,
  }),
  exportState: (state) => ({ expAvg: state.expAvg.values, expAvgSq: state.expAvgSq.values, kahanComp: null }),
};

/** Core's optimizer over the array backend. */
export function arrayOptimizer(
  params: readonly ArrayTensor[] | readonly ParamGroupInput<ArrayTensor>[],
  options: StableAdamWOptions,
): StableAdamWOptimizer<ArrayTensor, ArrayTensor, State, ArrayTensor> {
  return new StableAdamWOptimizer(arrayBackend, params, options);
}

export function arrayParam(values: ArrayLike<number>, dtype: ArrayTensor['dtype'] = 'float64'): ArrayTensor {
  return store(dtype, values);
}
