import type { ConformanceTarget, HarnessSpec, OptimizerHarness } from '@stable-adamw/conformance';
import type { MaybePromise } from '@stable-adamw/core';
import { andThen, settle } from '@stable-adamw/core/adapter';
// By name: the build keeps the package external, so `./testing` holds no second copy of the adapter.
import { type GpuJsParam, type GpuJsTensor, isDeviceTensor, StableAdamW } from '@stable-adamw/gpujs';
import { GPU, type IKernelRunShortcut } from 'gpu.js';

/** gpu.js modes a target can be built for (`gpu` and `async` pick a backend themselves). */
export type GpuJsTargetMode = 'cpu' | 'webasm' | 'webgl' | 'webgl2' | 'headlessgl' | 'webgpu' | 'gpu' | 'async';

/** How the harness hands tensors to the optimizer. */
export interface GpuJsTargetOptions {
  /**
   * `'array'` (default): params and gradients as Float32Arrays. `'texture'`: both first go through
   * a gpu.js pipeline kernel, as textures (or buffers) made by the user's own kernels would.
   */
  inputs?: 'array' | 'texture';
}

/** A conformance target that also owns a gpu.js instance, released by `close()`. */
export interface GpuJsConformanceTarget extends ConformanceTarget {
  /** Destroys the gpu.js instance the harnesses share. */
  close(): Promise<void>;
}

/** Copies host values into a pipeline tensor with a kernel of the harness's own, like a user's model would. */
class Uploader {
  readonly #gpu: GPU;
  readonly #kernels = new Map<number, IKernelRunShortcut>();

  constructor(gpu: GPU) {
    this.#gpu = gpu;
  }

  upload(values: ArrayLike<number>): MaybePromise<GpuJsTensor> {
    const n = values.length;
    let kernel = this.#kernels.get(n);
    if (!kernel) {
      kernel = this.#gpu.createKernel(
        function (this: { thread: { x: number } }, a: number[]): number {
          return a[this.thread.x] as number;
        },
        { output: [n], pipeline: true, immutable: true, precision: 'single', tactic: 'precision' },
      );
      this.#kernels.set(n, kernel);
    }
    return kernel(Float32Array.from(values)) as MaybePromise<GpuJsTensor>;
  }

  destroy(): void {
    for (const kernel of this.#kernels.values()) kernel.destroy();
    this.#kernels.clear();
  }
}

/**
 * A conformance target running the gpu.js adapter in `mode` (float32 storage only). Works in Node
 * (`cpu`, `webasm`, `headlessgl`) and in browsers (`webgl2`, `webgl`, `webgpu`); it imports
 * nothing Node-specific.
 */
export function gpujsTarget(mode: GpuJsTargetMode, { inputs = 'array' }: GpuJsTargetOptions = {}): GpuJsConformanceTarget {
  let gpu: GPU | undefined;
  const getGpu = () => {
    gpu ??= new GPU({ mode: mode as never });
    return gpu;
  };
  return {
    id: inputs === 'texture' ? `gpujs-${mode} (texture inputs)` : `gpujs-${mode}`,
    dtypes: ['float32'],
    gradientRelease: true,
    nonFinite: true,
    create(spec: HarnessSpec): MaybePromise<OptimizerHarness> {
      const shared = getGpu();
      const uploader = new Uploader(shared);
      const grads = new Set<GpuJsTensor>();
      const toTensor = (values: ArrayLike<number>): MaybePromise<GpuJsTensor> =>
        inputs === 'texture' ? uploader.upload(values) : Float32Array.from(values);
      const dropGrads = () => {
        for (const g of grads) if (isDeviceTensor(g)) g.delete();
        grads.clear();
      };
      const withGrad = (values: ArrayLike<number>) =>
        andThen(toTensor(values), (tensor) => {
          grads.add(tensor);
          return tensor;
        });
      return andThen(settle(spec.params.map((p) => toTensor(p.init))), (initial) => {
        const params: GpuJsParam[] = spec.params.map((p, i) => ({
          data: initial[i] as GpuJsTensor,
          shape: p.shape,
          ...(p.name ? { name: p.name } : {}),
        }));
        const groups = spec.groups.map(({ params: indices, ...overrides }) => ({
          ...overrides,
          params: indices.map((i) => params[i] as GpuJsParam),
        }));
        const optimizer = new StableAdamW(groups, { ...spec.options, gpu: shared });
        return {
          optimizer,
          backendId: optimizer.backendId,
          setGrads(values) {
            dropGrads();
            return andThen(settle(values.map((g) => (g === null ? null : withGrad(g)))), (tensors) => {
              tensors.forEach((g, i) => {
                (params[i] as GpuJsParam).grad = g;
              });
            });
          },
          stepParam: (i, grad) => andThen(withGrad(grad), (g) => optimizer.stepParam(params[i] as GpuJsParam, g)),
          readParams: () =>
            andThen(settle(params.map((p) => optimizer.readParam(p))), (values) => values.map((v) => Float64Array.from(v))),
          dispose: () =>
            andThen(optimizer.dispose(), () => {
              dropGrads();
              // Initial texture params belong to the harness, not the optimizer.
              for (const t of initial) if (isDeviceTensor(t)) t.delete();
              uploader.destroy();
            }),
        };
      });
    },
    async close() {
      await gpu?.destroy();
      gpu = undefined;
    },
  };
}

const EXPLICIT_MODES: readonly string[] = ['cpu', 'webasm', 'webgl', 'webgl2', 'headlessgl', 'webgpu'];

/**
 * Builds a target and proves the mode works here: one step on a one-element param must run on the
 * requested backend (no silent fallback to `cpu`). Rejects with the reason otherwise, e.g. for
 * `webgpu` in Node. This is what a parity backend's `open()` should call.
 */
export async function openGpujsTarget(mode: GpuJsTargetMode, options: GpuJsTargetOptions = {}): Promise<GpuJsConformanceTarget> {
  const target = gpujsTarget(mode, options);
  try {
    const harness = await target.create({
      dtype: 'float32',
      params: [{ shape: [1], init: [1] }],
      groups: [{ params: [0] }],
      options: { lr: 0.1, weightDecay: 0 },
    });
    try {
      await harness.setGrads([[0.5]]);
      await harness.optimizer.step();
      const [value] = await harness.readParams();
      const ran = (harness.optimizer as StableAdamW).stats.executedModes;
      if (EXPLICIT_MODES.includes(mode) && (ran.length !== 1 || ran[0] !== mode)) {
        throw new Error(`gpu.js mode ${mode} ran its kernels on ${ran.join(', ') || 'nothing'}`);
      }
      if (!(value && Math.abs((value[0] as number) - 0.9) < 1e-6)) {
        throw new Error(`gpu.js mode ${mode} computed ${value?.[0]} for a step that gives 0.9`);
      }
    } finally {
      await harness.dispose();
    }
  } catch (error) {
    await target.close().catch(() => undefined);
    throw error;
  }
  return target;
}
