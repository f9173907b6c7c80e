import { createParamBuffer, numberToBfloat16, numberToFloat16, StableAdamW } from '@stable-adamw/cpu';
import { HYPER } from './scalar-js.js';
import type { BenchSubject } from './subject.js';
import { seededValues } from './values.js';

/**
 * `@stable-adamw/cpu` over one flat `ParamBuffer` (params, gradients and state in one WebAssembly
 * memory) with the WebAssembly SIMD kernels, on the calling thread or on `threads` workers.
 */
export function cpuWasmSubject(threads: number): BenchSubject {
  return {
    id: threads === 1 ? 'cpu-wasm' : `cpu-wasm-${threads}t`,
    backend: 'cpu',
    implementation:
      threads === 1 ? 'WASM SIMD kernels, flat buffer' : `WASM SIMD kernels, flat buffer, ${threads} worker threads`,
    algorithm: 'stable-adamw',
    threads,
    dtypes: ['float32', 'bfloat16', 'float16'],
    cpuShapes: true,
    async open(sizes, dtype) {
      const buffer = await createParamBuffer(
        sizes.map((n, i) => ({ shape: [n], name: `t${i}`, init: seededValues(n, 2 * i + 1, 1) })),
        { dtype, threads },
      );
      try {
        // Gradients are written into the buffer's views, as a backward pass would (16-bit: bit patterns).
        for (const [i, param] of buffer.params.entries()) {
          const g = seededValues(param.data.length, 2 * i + 2, 1e-2);
          if (dtype === 'float32') buffer.gradOf(param).set(g);
          else buffer.gradOf(param).set(Uint16Array.from(g, dtype === 'bfloat16' ? numberToBfloat16 : numberToFloat16));
        }
        const { lr, beta1, beta2, eps, weightDecay } = HYPER;
        const optimizer = new StableAdamW(buffer.params, { lr, betas: [beta1, beta2], eps, weightDecay });
        return {
          detail: `${buffer.kernel} kernel, ${buffer.threads} thread${buffer.threads > 1 ? 's' : ''}`,
          step: () => optimizer.step(),
          memory: () => ({}),
          close: async () => {
            await buffer.dispose();
            return {};
          },
        };
      } catch (error) {
        await buffer.dispose();
        throw error;
      }
    },
  };
}
