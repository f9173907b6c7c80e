import { type CpuParam, numberToBfloat16, StableAdamW } from '@stable-adamw/cpu';
import type { BenchDtype } from '../bytes.js';
import { CPU_JS_BF16_LIMIT } from './limits.js';
import { HYPER } from './scalar-js.js';
import type { BenchSubject } from './subject.js';
import { seededValues } from './values.js';

/** Params and gradients of `sizes` as the cpu adapter takes them (bf16 as bit patterns, grads too). */
export function cpuParams(sizes: readonly number[], dtype: BenchDtype): CpuParam[] {
  return sizes.map((n, i) => {
    const data = seededValues(n, 2 * i + 1, 1);
    const grad = seededValues(n, 2 * i + 2, 1e-2);
    if (dtype === 'float32') return { data, grad };
    return { data: Uint16Array.from(data, numberToBfloat16), grad: Uint16Array.from(grad, numberToBfloat16), dtype };
  });
}

/** `@stable-adamw/cpu` with its JS kernels (Kahan summation on for bf16, the default). */
export const cpuJs: BenchSubject = {
  id: 'cpu-js',
  backend: 'cpu',
  implementation: 'JS kernels',
  algorithm: 'stable-adamw',
  threads: 1,
  dtypes: ['float32', 'bfloat16'],
  dtypeNote: 'float16 is measured on cpu-wasm only (the goals need it there; the JS 16-bit kernels are timed on bfloat16)',
  cpuShapes: true,
  limit: CPU_JS_BF16_LIMIT,
  async open(sizes, dtype) {
    const params = cpuParams(sizes, dtype);
    const { lr, beta1, beta2, eps, weightDecay } = HYPER;
    const optimizer = new StableAdamW(params, { lr, betas: [beta1, beta2], eps, weightDecay });
    return {
      step: () => optimizer.step(),
      memory: () => ({}),
      close: () => {
        params.length = 0;
        return {};
      },
    };
  },
};
