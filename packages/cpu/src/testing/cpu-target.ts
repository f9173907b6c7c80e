import type { ConformanceTarget, HarnessSpec, OptimizerHarness } from '@stable-adamw/conformance';
import { bfloat16ToNumber, type Dtype, float16ToNumber, numberToBfloat16, numberToFloat16 } from '@stable-adamw/core';
// The package by name, so the ./testing bundles share its module instead of carrying a copy.
import { type CpuArray, type CpuParam, StableAdamW } from '@stable-adamw/cpu';

const Float16 = (globalThis as { Float16Array?: new (n: number) => CpuArray }).Float16Array;

/** How a dtype is stored on this adapter: 16-bit as bits, or as a native Float16Array. */
export type Float16Storage = 'bits' | 'native';

function toStorage(values: ArrayLike<number>, dtype: Dtype, float16: Float16Storage): CpuArray {
  const n = values.length;
  switch (dtype) {
    case 'float64':
      return Float64Array.from(values);
    case 'float32':
      return Float32Array.from(values);
    case 'bfloat16':
      return Uint16Array.from(values, numberToBfloat16);
    case 'float16': {
      if (float16 === 'bits') return Uint16Array.from(values, numberToFloat16);
      const out = new (Float16 as new (n: number) => CpuArray)(n);
      for (let i = 0; i < n; i++) out[i] = values[i] as number;
      return out;
    }
  }
}

function toFloat64(param: CpuParam): Float64Array {
  const { data } = param;
  if (!(data instanceof Uint16Array)) return Float64Array.from(data as ArrayLike<number>);
  return Float64Array.from(data, param.dtype === 'bfloat16' ? bfloat16ToNumber : float16ToNumber);
}

/** A conformance target for the cpu adapter storing 16-bit params as bits or native Float16Array. */
export function cpuTarget(float16: Float16Storage = 'bits'): ConformanceTarget {
  const dtypes: Dtype[] = float16 === 'native' ? ['float16'] : ['float64', 'float32', 'bfloat16', 'float16'];
  return {
    id: float16 === 'native' ? 'cpu (native Float16Array)' : 'cpu',
    dtypes,
    gradientRelease: true,
    nonFinite: true,
    create(spec: HarnessSpec): OptimizerHarness {
      const params: CpuParam[] = spec.params.map((p) => ({
        data: toStorage(p.init, spec.dtype, float16),
        dtype: spec.dtype,
        shape: p.shape,
        ...(p.name ? { name: p.name } : {}),
      }));
      const groups = spec.groups.map(({ params: indices, ...overrides }) => ({
        ...overrides,
        params: indices.map((i) => params[i] as CpuParam),
      }));
      const optimizer = new StableAdamW(groups, spec.options);
      return {
        optimizer,
        backendId: optimizer.backendId,
        setGrads(grads) {
          grads.forEach((g, i) => {
            (params[i] as CpuParam).grad = g === null ? null : toStorage(g, spec.dtype, float16);
          });
        },
        stepParam: (i, grad) => optimizer.stepParam(params[i] as CpuParam, toStorage(grad, spec.dtype, float16)),
        readParams: () => params.map(toFloat64),
        dispose: () => optimizer.dispose(),
      };
    },
  };
}
