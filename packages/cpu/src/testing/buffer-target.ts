import type { ConformanceTarget, HarnessSpec, OptimizerHarness } from '@stable-adamw/conformance';
import { bfloat16ToNumber, float16ToNumber, numberToBfloat16, numberToFloat16 } from '@stable-adamw/core';
// The package by name, so the ./testing bundles share its module (and its ParamBuffer registry).
import { type BufferDtype, type BufferParam, createParamBuffer, type ParamBufferOptions, StableAdamW } from '@stable-adamw/cpu';

const encoders: Record<BufferDtype, (x: number) => number> = {
  float32: (x) => x,
  bfloat16: numberToBfloat16,
  float16: numberToFloat16,
};
const decoders: Record<BufferDtype, (x: number) => number> = {
  float32: (x) => x,
  bfloat16: bfloat16ToNumber,
  float16: float16ToNumber,
};

/**
 * A conformance target for params in a `ParamBuffer` (the WebAssembly SIMD kernels, or with
 * `kernel: 'js'` the typed-array kernels on buffer memory). Gradients are written into the buffer's
 * own gradient views.
 */
export function cpuBufferTarget(options: Omit<ParamBufferOptions, 'dtype'> = {}): ConformanceTarget {
  const { threads = 1, kernel = 'wasm' } = options;
  return {
    id: `cpu ParamBuffer (${kernel}, ${threads} thread${threads === 1 ? '' : 's'})`,
    dtypes: ['float32', 'bfloat16', 'float16'],
    gradientRelease: true,
    nonFinite: true,
    async create(spec: HarnessSpec): Promise<OptimizerHarness> {
      const dtype = spec.dtype as BufferDtype;
      const buffer = await createParamBuffer(
        spec.params.map((p) => ({ shape: p.shape, init: p.init, ...(p.name ? { name: p.name } : {}) })),
        { dtype, threads, kernel },
      );
      const { params } = buffer;
      const groups = spec.groups.map(({ params: indices, ...overrides }) => ({
        ...overrides,
        params: indices.map((i) => params[i] as BufferParam),
      }));
      const optimizer = new StableAdamW(groups, spec.options);
      const writeGrad = (i: number, values: ArrayLike<number>) => {
        const param = params[i] as BufferParam;
        const grad = buffer.gradOf(param);
        for (let j = 0; j < grad.length; j++) grad[j] = encoders[dtype](values[j] as number);
        param.grad = grad;
        return grad;
      };
      return {
        optimizer,
        backendId: `${optimizer.backendId}-buffer-${buffer.kernel}`,
        setGrads(grads) {
          grads.forEach((g, i) => {
            if (g === null) (params[i] as BufferParam).grad = null;
            else writeGrad(i, g);
          });
        },
        stepParam: (i, grad) => optimizer.stepParam(params[i] as BufferParam, writeGrad(i, grad)),
        readParams: () => params.map((p) => Float64Array.from(p.data, decoders[dtype])),
        async dispose() {
          optimizer.dispose();
          await buffer.dispose();
        },
      };
    },
  };
}
