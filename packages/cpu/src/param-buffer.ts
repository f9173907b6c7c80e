import { InvalidParamError, UnsupportedBackendError } from '@stable-adamw/core';
import { type BufferDtype, type BufferLayout, MAX_PAGES, PAGE_BYTES, planLayout, RESERVED_BYTES } from './buffer-layout.js';
import { type BufferView, placementOf, registerBufferParam } from './buffer-registry.js';
import { storageEncoder } from './kernels/half-codecs.js';
import { instantiateKernel, type KernelModuleName, kernelModule, kernelModuleName } from './kernels/wasm/kernel-module.js';
import { ThreadPool } from './kernels/wasm/thread-pool.js';
import { type TensorRegion, WasmStepper } from './kernels/wasm/wasm-stepper.js';
import type { CpuGradient, CpuParam } from './param.js';

export type { BufferDtype } from './buffer-layout.js';

/** One tensor of a flat parameter buffer. */
export interface ParamSpec {
  /** Logical shape; the tensor has the product of its dimensions as elements (at least one). */
  readonly shape: readonly number[];
  /** Used in error messages and by name-based param grouping. */
  readonly name?: string;
  /** Initial values (rounded to the buffer's dtype); zeros when absent. */
  readonly init?: ArrayLike<number>;
}

export interface ParamBufferOptions {
  /** Storage of params, gradients and state (default `'float32'`). */
  readonly dtype?: BufferDtype;
  /**
   * Worker threads that run the kernels (default 1: no workers, the calling thread runs them).
   * With more than one, `step()` returns a Promise. Results are bit-identical for any count.
   */
  readonly threads?: number;
  /** `'wasm'` (default: WebAssembly SIMD where the runtime has it) or `'js'` (the typed-array kernels). */
  readonly kernel?: 'wasm' | 'js';
}

/** A param living in a `ParamBuffer`: `data` and `grad` are views into the buffer's memory. */
export interface BufferParam extends CpuParam {
  readonly data: Float32Array | Uint16Array;
  readonly dtype: BufferDtype;
  readonly shape: readonly number[];
}

/**
 * Params, gradients and optimizer state of many tensors in one `WebAssembly.Memory`, sized once
 * (it never grows, so views stay valid). `StableAdamW` steps the params of a buffer with one
 * WebAssembly SIMD kernel call per phase for all of them, optionally on worker threads.
 *
 * Fill gradients in place: `param.grad` is a view into the buffer (`gradOf(param)`; `grads` spans
 * all of them). `optimizer.zeroGrad()` detaches them (`grad = null`, the param is skipped) and
 * `optimizer.zeroGrad({ setToNone: false })` zeroes them; `zeroGrads()` zeroes and re-attaches every view. A `grad` set to any other array still works,
 * through the typed-array kernels.
 */
export interface ParamBuffer {
  readonly dtype: BufferDtype;
  /** Worker threads running the kernels (1: the calling thread). */
  readonly threads: number;
  /** Which kernels step this buffer's params. */
  readonly kernel: 'wasm-simd' | 'js';
  /**
   * The WebAssembly build stepping this buffer: `'wasm-relaxed-simd'` (fused multiply-adds, where
   * the engine validates relaxed SIMD) or `'wasm-simd'`; undefined with the JS kernels.
   */
  readonly kernelModule: 'wasm-relaxed-simd' | 'wasm-simd' | undefined;
  /** The memory holding everything (shared when `threads > 1`). */
  readonly memory: WebAssembly.Memory;
  /** The params, in spec order: pass them (or groups of them) to `StableAdamW`. */
  readonly params: readonly BufferParam[];
  /** Every gradient, back to back in spec order (padding included): zero them all at once. */
  readonly grads: Float32Array | Uint16Array;
  /** True after `dispose()`. */
  readonly disposed: boolean;
  /** The gradient view of one of this buffer's params. */
  gradOf(param: BufferParam): Float32Array | Uint16Array;
  /** Zeroes every gradient and attaches each param's view again (after `optimizer.zeroGrad()`). */
  zeroGrads(): void;
  /** Stops the worker threads. The params' arrays stay readable; stepping them afterwards throws. */
  dispose(): Promise<void>;
}

/** The `ParamBuffer` behind `createParamBuffer`. */
class FlatParamBuffer implements ParamBuffer {
  readonly dtype: BufferDtype;
  readonly threads: number;
  readonly kernel: 'wasm-simd' | 'js';
  readonly kernelModule: KernelModuleName | undefined;
  readonly memory: WebAssembly.Memory;
  readonly params: readonly BufferParam[];
  readonly grads: BufferView;
  readonly #pool: ThreadPool | undefined;
  #disposed = false;

  constructor(
    specs: readonly ParamSpec[],
    dtype: BufferDtype,
    layout: BufferLayout,
    memory: WebAssembly.Memory,
    stepper: WasmStepper | undefined,
    pool: ThreadPool | undefined,
    moduleName: KernelModuleName | undefined,
  ) {
    this.dtype = dtype;
    this.threads = pool?.size ?? 1;
    this.kernel = stepper ? 'wasm-simd' : 'js';
    this.kernelModule = moduleName;
    this.memory = memory;
    this.#pool = pool;
    const Ctor = dtype === 'float32' ? Float32Array : Uint16Array;
    const view = (offset: number, length: number): BufferView => new Ctor(memory.buffer, offset, length);
    this.grads = view(layout.gradsOffset, layout.gradsBytes / Ctor.BYTES_PER_ELEMENT);
    const encode = storageEncoder(dtype);
    this.params = specs.map((spec, i) => {
      const region = layout.regions[i] as TensorRegion;
      const data = view(region.param, region.numel);
      if (spec.init) data.set(encode ? Array.from(spec.init, encode) : spec.init);
      const grad = view(region.grad, region.numel);
      const param: BufferParam = { data, grad, dtype, shape: [...spec.shape], ...(spec.name ? { name: spec.name } : {}) };
      registerBufferParam(param, {
        buffer: this,
        region,
        data,
        grad,
        stepper,
        label: spec.name ? `specs[${i}] (${spec.name})` : `specs[${i}]`,
        owner: undefined,
      });
      return param;
    });
  }

  get disposed(): boolean {
    return this.#disposed;
  }

  gradOf(param: BufferParam): BufferView {
    const placement = placementOf(param);
    if (placement?.buffer !== this) {
      throw new InvalidParamError('param', 'does not belong to this ParamBuffer', 'Pass one of buffer.params.');
    }
    return placement.grad;
  }

  zeroGrads(): void {
    this.grads.fill(0);
    for (const param of this.params) (param as CpuParam).grad = this.gradOf(param) as CpuGradient;
  }

  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    await this.#pool?.terminate();
  }
}

function checkSpecs(specs: readonly ParamSpec[]): number[] {
  if (!Array.isArray(specs) || specs.length === 0) {
    throw new InvalidParamError('specs', 'is not a non-empty array', 'Pass one { shape, name?, init? } per tensor.');
  }
  return specs.map((spec, i) => {
    const shape = (spec as ParamSpec | undefined)?.shape;
    const valid = Array.isArray(shape) && shape.every((d) => Number.isSafeInteger(d) && d > 0);
    if (!valid) {
      throw new InvalidParamError(
        `specs[${i}].shape`,
        `is ${JSON.stringify(shape)}`,
        'Give an array of positive integer dimensions.',
      );
    }
    const numel = shape.reduce((a, b) => a * b, 1);
    if (spec.init !== undefined && spec.init.length !== numel) {
      throw new InvalidParamError(
        `specs[${i}].init`,
        `has ${spec.init.length} values but shape [${shape.join(', ')}] has ${numel} elements`,
        'Give one initial value per element, or leave init out for zeros.',
      );
    }
    return numel;
  });
}

const OPTION_NAMES = ['dtype', 'threads', 'kernel'];

function checkOptions(options: ParamBufferOptions): { dtype: BufferDtype; threads: number; kernel: 'wasm' | 'js' } {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new InvalidParamError('options', `is ${JSON.stringify(options)}`, 'Pass an object such as { dtype: "bfloat16" }.');
  }
  for (const key of Object.keys(options)) {
    if (OPTION_NAMES.includes(key)) continue;
    throw new InvalidParamError(
      `options.${key}`,
      'is not a ParamBuffer option',
      `Valid options are: ${OPTION_NAMES.join(', ')}.`,
    );
  }
  const { dtype = 'float32', threads = 1, kernel = 'wasm' } = options;
  if (dtype !== 'float32' && dtype !== 'bfloat16' && dtype !== 'float16') {
    throw new InvalidParamError('options.dtype', `is ${JSON.stringify(dtype)}`, 'Use "float32", "bfloat16" or "float16".');
  }
  if (!Number.isSafeInteger(threads) || threads < 1) {
    throw new InvalidParamError('options.threads', `is ${String(threads)}`, 'Use a positive integer (1: no worker threads).');
  }
  if (kernel !== 'wasm' && kernel !== 'js') {
    throw new InvalidParamError('options.kernel', `is ${JSON.stringify(kernel)}`, 'Use "wasm" or "js".');
  }
  return { dtype, threads, kernel };
}

/** The buffer's memory, sized once; refusing the allocation is reported as a typed error. */
function allocate(pages: number, shared: boolean): WebAssembly.Memory {
  try {
    return new WebAssembly.Memory({ initial: pages, maximum: pages, ...(shared ? { shared: true } : {}) });
  } catch (error) {
    throw new UnsupportedBackendError(
      `Could not allocate ${pages * PAGE_BYTES} bytes of WebAssembly memory (${String(error)})`,
      'Use fewer or smaller tensors per buffer, or free memory first.',
    );
  }
}

function canShareMemory(): boolean {
  const isolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated;
  return typeof SharedArrayBuffer === 'function' && isolated !== false;
}

/**
 * Allocates a flat parameter buffer: params, gradients, moments (and Kahan buffers for 16-bit) of
 * every tensor in one `WebAssembly.Memory`. Asynchronous because the kernel is compiled (once) and
 * worker threads start here.
 *
 * @throws InvalidParamError for bad specs or options, or a buffer over WebAssembly's 4 GiB.
 * @throws UnsupportedBackendError when `threads > 1` where shared memory or WebAssembly SIMD is
 *   unavailable (browsers need cross-origin isolation).
 */
export async function createParamBuffer(specs: readonly ParamSpec[], options: ParamBufferOptions = {}): Promise<ParamBuffer> {
  const numels = checkSpecs(specs);
  const { dtype, threads, kernel } = checkOptions(options);
  const layout = planLayout(numels, dtype);
  const pages = Math.ceil(layout.bytes / PAGE_BYTES);
  if (pages > MAX_PAGES) {
    throw new InvalidParamError(
      'specs',
      `need ${layout.bytes} bytes, more than WebAssembly's 4 GiB address space`,
      'Split the params over several buffers.',
    );
  }
  const shared = threads > 1;
  if (shared && (kernel === 'js' || !canShareMemory())) {
    throw new UnsupportedBackendError(
      kernel === 'js'
        ? 'Worker threads run the WebAssembly kernels only'
        : 'threads > 1 needs SharedArrayBuffer, which this page does not have',
      kernel === 'js'
        ? 'Use threads: 1 with kernel "js".'
        : 'Serve the page cross-origin isolated (COOP/COEP headers), or use threads: 1.',
    );
  }
  const memory = allocate(pages, shared);
  const module = kernel === 'wasm' ? await kernelModule(shared) : undefined;
  if (shared && !module) {
    throw new UnsupportedBackendError('This runtime has no WebAssembly SIMD', 'Use threads: 1.');
  }
  let stepper: WasmStepper | undefined;
  let pool: ThreadPool | undefined;
  if (module) {
    const exports = await instantiateKernel(module, memory);
    if (exports.heapBase() > RESERVED_BYTES) throw new Error(`kernel static data ends at ${exports.heapBase()}`);
    if (shared) pool = await ThreadPool.start(module, memory, layout.control, threads);
    stepper = new WasmStepper(exports, memory, layout.tables, dtype, pool);
  }
  return new FlatParamBuffer(specs, dtype, layout, memory, stepper, pool, module ? kernelModuleName(module) : undefined);
}
