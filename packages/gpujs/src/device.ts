import { type MaybePromise, UnsupportedBackendError } from '@stable-adamw/core';
import type { GPU, IKernelRunShortcut } from 'gpu.js';
import {
  blockSumKernel,
  copyKernel,
  expAvgKernel,
  expAvgSqKernel,
  momentsMapKernel,
  newExpAvg,
  sumSquaresKernel,
  updateKernel,
} from './kernel-sources.js';
import { andThen } from './maybe-promise.js';
import { type GpuJsTensor, numelOf } from './tensor.js';

/** Elements summed per thread at each level of the RMS reduction tree. */
export const REDUCTION_BLOCK = 16;

/**
 * Largest tensor on GPU modes: indices stay exact in float32 (2^24), which is also what a
 * 4096×4096 texture holds. GL modes are further limited to maxTextureSize² texels.
 */
const FLOAT_INDEX_LIMIT = 2 ** 24;

/** Where the optimizer's kernels run: the backend gpu.js resolved, or `async` (which may move kernels to webgpu). */
export type GpuJsMode = 'cpu' | 'webasm' | 'webgl' | 'webgl2' | 'headlessgl' | 'webgpu' | 'async' | 'gl' | (string & {});

type Kernel = IKernelRunShortcut;
type Launch = (...args: unknown[]) => MaybePromise<unknown>;

const SETTINGS = { pipeline: true, immutable: true, precision: 'single', tactic: 'precision' } as const;

interface KernelClass {
  readonly name: string;
  readonly mode?: string;
  readonly features?: KernelFeatures;
}

const GL_CLASS_MODES: Record<string, string> = { WebGL2Kernel: 'webgl2', WebGLKernel: 'webgl', HeadlessGLKernel: 'headlessgl' };
const GL_MODES = new Set(['webgl2', 'webgl', 'headlessgl', 'gl']);

/** The mode a gpu.js kernel class runs in; GL classes all report `'gpu'`, so tell them apart by name. */
function modeOfKernelClass(kernelClass: KernelClass): string {
  const gl = GL_CLASS_MODES[kernelClass.name];
  if (gl) return gl;
  return kernelClass.mode === 'gpu' ? 'gl' : (kernelClass.mode ?? 'unknown');
}

interface KernelFeatures {
  readonly kernelMap?: boolean;
  readonly maxTextureSize?: number;
  readonly isFloatRead?: boolean;
  readonly isTextureFloat?: boolean;
}

/** Moments after phase 1, each a fresh device tensor. */
export interface NewMoments {
  expAvg: GpuJsTensor;
  expAvgSq: GpuJsTensor;
}

/**
 * The optimizer's kernels on one gpu.js instance, compiled lazily per tensor length, and the
 * device facts the adapter needs (limits, kernel-map support). Counts launches for diagnostics.
 */
export class GpuJsDevice {
  readonly gpu: GPU;
  readonly mode: GpuJsMode;
  /** Elements one tensor may hold here, and a description of where the limit comes from. */
  readonly maxElements: number;
  readonly limitName: string;
  /** Whether moments run as one kernel map (webgl, webgl2, headlessgl, cpu) or two kernels. */
  readonly usesKernelMap: boolean;
  /** `cpu` and `webasm` keep "device" tensors as Float32Arrays: nothing to upload. */
  readonly hostResident: boolean;
  launches = 0;
  readonly #kernels = new Map<string, Kernel>();

  constructor(gpu: GPU) {
    const kernelClass = (gpu as unknown as { Kernel?: KernelClass | null }).Kernel;
    const requested = (gpu as unknown as { mode?: string }).mode;
    if (!kernelClass || requested === 'dev') {
      throw new UnsupportedBackendError(
        `gpu.js mode ${JSON.stringify(requested)} runs no kernels this optimizer can use`,
        "Create the GPU with one of the modes 'gpu', 'async', 'webgl2', 'webgl', 'headlessgl', 'webgpu', 'webasm' or 'cpu'.",
      );
    }
    const features = kernelClass.features ?? {};
    const kernelMode = modeOfKernelClass(kernelClass);
    const isGl = GL_MODES.has(kernelMode);
    if (isGl && !(features.isFloatRead && features.isTextureFloat)) {
      throw new UnsupportedBackendError(
        `gpu.js ${kernelMode} on this device has no float textures, so it could only run with precision 'unsigned' (8-bit packed values)`,
        "Use a device with OES_texture_float / WebGL2 float render targets, or gpu.js mode 'webasm' or 'cpu'.",
      );
    }
    this.gpu = gpu;
    // `async` mode may move a kernel to webgpu on its first call: report it as such.
    this.mode = requested === 'async' ? 'async' : kernelMode;
    // webasm runs kernel maps on its cpu fallback only, and webgpu not at all.
    this.usesKernelMap = features.kernelMap === true && requested !== 'async' && kernelMode !== 'webasm';
    this.hostResident = requested !== 'async' && (kernelMode === 'cpu' || kernelMode === 'webasm');
    if (isGl) {
      const size = features.maxTextureSize ?? 0;
      this.maxElements = Math.min(size * size, FLOAT_INDEX_LIMIT);
      this.limitName = `maxTextureSize ${size} × ${size} texels, capped at 2^24 for exact float indices`;
    } else if (kernelMode === 'cpu' || kernelMode === 'webasm') {
      this.maxElements = 2 ** 31 - 1;
      this.limitName = 'the largest typed array index';
    } else {
      this.maxElements = FLOAT_INDEX_LIMIT;
      this.limitName = '2^24 elements, for exact float indices in shaders';
    }
  }

  /** A device copy of host values (or of another tensor). */
  upload(values: GpuJsTensor): MaybePromise<GpuJsTensor> {
    const numel = numelOf(values);
    return this.#launch(`copy:${numel}`, () => this.#create(copyKernel, numel), values) as MaybePromise<GpuJsTensor>;
  }

  /** Phase 1 moments: one kernel map with two outputs where supported, else two kernels. */
  moments(
    numel: number,
    grad: GpuJsTensor,
    expAvg: GpuJsTensor,
    expAvgSq: GpuJsTensor,
    beta1Hat: number,
    beta2Hat: number,
  ): MaybePromise<NewMoments> {
    const beta1c = 1 - beta1Hat;
    const beta2c = 1 - beta2Hat;
    if (this.usesKernelMap) {
      const result = this.#launch(
        `moments:${numel}`,
        () =>
          this.gpu.createKernelMap({ expAvg: newExpAvg }, momentsMapKernel, {
            ...SETTINGS,
            output: [numel],
          }) as unknown as Kernel,
        grad,
        expAvg,
        expAvgSq,
        beta1c,
        beta2Hat,
        beta2c,
      );
      return andThen(result, (r) => {
        const out = r as { result: GpuJsTensor; expAvg: GpuJsTensor };
        return { expAvg: out.expAvg, expAvgSq: out.result };
      });
    }
    const m = this.#launch(`expAvg:${numel}`, () => this.#create(expAvgKernel, numel), grad, expAvg, beta1c);
    return andThen(m, (newM) =>
      andThen(
        this.#launch(`expAvgSq:${numel}`, () => this.#create(expAvgSqKernel, numel), grad, expAvgSq, beta2Hat, beta2c),
        (newV) => ({ expAvg: newM as GpuJsTensor, expAvgSq: newV as GpuJsTensor }),
      ),
    );
  }

  /** First reduction level: block sums of g²/max(v, ε²), ⌈n/16⌉ values. */
  sumSquares(numel: number, grad: GpuJsTensor, expAvgSq: GpuJsTensor, epsSq: number): MaybePromise<GpuJsTensor> {
    return this.#launch(
      `sumSquares:${numel}`,
      () => this.#createReduction(sumSquaresKernel, numel),
      grad,
      expAvgSq,
      epsSq,
    ) as MaybePromise<GpuJsTensor>;
  }

  /** A later reduction level over `length` partial sums. */
  blockSum(length: number, partial: GpuJsTensor): MaybePromise<GpuJsTensor> {
    return this.#launch(
      `blockSum:${length}`,
      () => this.#createReduction(blockSumKernel, length),
      partial,
    ) as MaybePromise<GpuJsTensor>;
  }

  /** Phase 2: the clipped update of θ. */
  update(
    numel: number,
    param: GpuJsTensor,
    expAvg: GpuJsTensor,
    expAvgSq: GpuJsTensor,
    sumSquares: GpuJsTensor,
    lr: number,
    eps: number,
    decayPerLr: number,
  ): MaybePromise<GpuJsTensor> {
    return this.#launch(
      `update:${numel}`,
      () => this.#create(updateKernel, numel),
      param,
      expAvg,
      expAvgSq,
      sumSquares,
      lr,
      numel,
      eps,
      decayPerLr,
    ) as MaybePromise<GpuJsTensor>;
  }

  /** Destroys every kernel this device compiled (the GPU instance itself belongs to the caller). */
  destroy(): void {
    for (const kernel of this.#kernels.values()) kernel.destroy();
    this.#kernels.clear();
  }

  /** The gpu.js kernel classes that actually ran (e.g. `['webgl2']`), to catch silent fallbacks. */
  get executedModes(): string[] {
    const modes = new Set<string>();
    for (const k of this.#kernels.values()) {
      const inner = (k as unknown as { kernel?: { constructor: KernelClass } }).kernel;
      if (inner) modes.add(modeOfKernelClass(inner.constructor));
    }
    return [...modes].sort();
  }

  /** Number of compiled kernels (diagnostics). */
  get kernelCount(): number {
    return this.#kernels.size;
  }

  #create(source: (...args: never[]) => number, numel: number): Kernel {
    return this.gpu.createKernel(source as never, { ...SETTINGS, output: [numel] });
  }

  #createReduction(source: (...args: never[]) => number, length: number): Kernel {
    return this.gpu.createKernel(source as never, {
      ...SETTINGS,
      output: [Math.ceil(length / REDUCTION_BLOCK)],
      constants: { n: length, block: REDUCTION_BLOCK },
    });
  }

  #launch(key: string, create: () => Kernel, ...args: unknown[]): MaybePromise<unknown> {
    let kernel = this.#kernels.get(key);
    if (!kernel) {
      kernel = create();
      this.#kernels.set(key, kernel);
    }
    this.launches += 1;
    return (kernel as unknown as Launch)(...args);
  }
}
