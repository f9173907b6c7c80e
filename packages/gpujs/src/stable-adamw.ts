import {
  InvalidParamError,
  type MaybePromise,
  OptimizerDisposedError,
  type ParamGroupInput,
  type StableAdamWOptions,
  type StateDict,
  UnsupportedBackendError,
} from '@stable-adamw/core';
import { andThen, StableAdamWOptimizer, settle } from '@stable-adamw/core/adapter';
import {
  createGpujsBackend,
  deviceSkipOf,
  type GpuJsBackend,
  type GpuJsBackendOptions,
  type GpuJsKernelPath,
  type GpuJsStats,
  type GpuJsSum,
} from './backend.js';
import type { GpuJsMode } from './device.js';
import type { GpuJsParam } from './param.js';
import type { GpuJsState } from './state.js';
import type { GpuJsTensor } from './tensor.js';

/** Options of the gpu.js adapter: optimi's hyperparameters plus the gpu.js instance to run on (`gpu`, `precision`). */
export interface GpuJsStableAdamWOptions extends StableAdamWOptions, GpuJsBackendOptions {}

/**
 * StableAdamW on gpu.js, with optimi's semantics and defaults. Params, gradients and optimizer
 * state stay on the device between steps; each step launches the moments, a reduction for the RMS
 * and the update — per tensor on `webasm` and GPU modes (as WebGL2 programs of its own on
 * `webgl2`), once per param group on `cpu`, once per step on `webgpu` (`kernelPath`) — and reads
 * nothing back, except one small table of non-finite counts per step
 * for groups with `nonFinite: 'throw'` and texture gradients.
 *
 * `nonFinite: 'skip'` (and a `lossScaler`) on `webgl2` and `webgpu` is decided on the device: the
 * kernels skip a step with a NaN/±Inf gradient by themselves, and the device keeps the group
 * steps, `skippedSteps`, `lastStepSkipped` and the scaler's scale and growth tracker (with
 * gradient release, `stepParam` is decided there too, and each param's own step). The host
 * reads them only when asked: `settled()` (and `stateDict()`, which calls it) reads them once;
 * until then those values are as of the last read. `lossScaleTensor()` hands the scale to your
 * own backward kernel without any read.
 *
 * `step()`, `stateDict()` and the reads return promises where gpu.js does (`webgpu`, `async`
 * mode) and plain values otherwise, so `await opt.step()` works in every mode.
 *
 * @example
 * ```ts
 * const gpu = new GPU({ mode: 'webgl2' });
 * const weight: GpuJsParam = { data: new Float32Array([0.5, -0.25]) };
 * const opt = new StableAdamW([weight], { gpu, lr: 1e-3 });
 * weight.grad = new Float32Array([0.1, -0.2]); // or a texture from your backward kernel
 * await opt.step();
 * const [values] = await opt.readParams();
 * ```
 */
export class StableAdamW extends StableAdamWOptimizer<GpuJsParam, GpuJsTensor, GpuJsState, GpuJsSum> {
  /** Where the kernels run, e.g. `webgl2` (what `new GPU()` resolved to), or `async`. */
  readonly mode: GpuJsMode;
  readonly #gpujs: GpuJsBackend;
  #disposed = false;

  /**
   * @param params params (`{ data, grad?, shape?, name? }`) or param groups (`{ params, ...overrides }`).
   * @param options hyperparameters (`lr` required, the rest default as in optimi) and `gpu`.
   */
  constructor(params: readonly GpuJsParam[] | readonly ParamGroupInput<GpuJsParam>[], options: GpuJsStableAdamWOptions) {
    const backend = createGpujsBackend(options);
    const { gpu: _gpu, precision: _precision, kernel: _kernel, ...hyperparameters } = options;
    super(backend, params, hyperparameters);
    this.#gpujs = backend;
    deviceSkipOf(backend).attach(this);
    this.mode = backend.mode;
  }

  /**
   * How `step()` runs its kernels: `'webgpu-multi-tensor'` on `webgpu` (three dispatches per step
   * for all tensors), `'webgl2-programs'` on `webgl2` (three or four draws per tensor of WebGL2
   * programs of the optimizer's own), `'host-packed'` on `cpu` (a fixed number of launches per
   * step whatever the number of tensors), `'per-tensor'` on `webasm`, `webgl` and `headlessgl`, and
   * on `webgpu`/`webgl2` for steps whose device decides `nonFinite: 'skip'` or with
   * `kernel: 'per-tensor'`. After a step: the path it took.
   */
  get kernelPath(): GpuJsKernelPath {
    const path = this.#gpujs.kernelPath;
    const skipOnDevice = this.#gpujs.skipsOnDevice?.() && this.paramGroups.some((group) => group.nonFinite === 'skip');
    return path !== 'host-packed' && skipOnDevice ? 'per-tensor' : path;
  }

  /**
   * Updates every param that has a gradient: those in `grads` when given (a `Map` from param to
   * gradient; params missing from it are skipped), else each param's `.grad`. A promise in
   * promise-returning modes. `step(closure)`, as in PyTorch and optimi: runs `closure` (which sets
   * the params' `grad` and returns the loss), steps, and returns the loss.
   */
  override step<L>(closure: () => Promise<L>): Promise<L>;
  override step<L>(closure: () => L): MaybePromise<L>;
  override step(grads?: ReadonlyMap<GpuJsParam, GpuJsTensor>): MaybePromise<void>;
  override step(closureOrGrads?: ReadonlyMap<GpuJsParam, GpuJsTensor> | (() => unknown)): MaybePromise<unknown> {
    this.#assertLive('step()');
    if (!this.paramGroups.some((group) => group.nonFinite === 'skip')) this.#requireSettled('a step without a skip group');
    return super.step(closureOrGrads);
  }

  /**
   * Gradient release: updates `param` with `grad` right away (see core's `stepParam`). Under
   * `nonFinite: 'skip'` on `webgl2`/`webgpu` the device decides whether the call is skipped and
   * keeps its counters (nothing read back); elsewhere the host does.
   */
  override stepParam(param: GpuJsParam, grad: GpuJsTensor): MaybePromise<void> {
    this.#assertLive('stepParam()');
    const onDevice = this.#gpujs.skipsParamOnDevice?.() && this.paramGroups.some((group) => group.nonFinite === 'skip');
    if (!onDevice) this.#requireSettled('stepParam()');
    // Core ignores phase 1's result on accumulation-only calls; wait for it so the caller may free `grad`.
    return andThen(super.stepParam(param, grad), () => this.#gpujs.whenReady(param));
  }

  /** The state as a JSON-serializable, PyTorch-shaped object (reads the moments back, after `settled()`). */
  override stateDict(): MaybePromise<StateDict> {
    this.#assertLive('stateDict()');
    return andThen(this.settled(), () => super.stateDict());
  }

  /** Restores a state dict from this or any other adapter (cpu, tfjs): same layout. */
  override loadStateDict(stateDict: StateDict): MaybePromise<void> {
    this.#assertLive('loadStateDict()');
    return andThen(this.#gpujs.settle(), () => {
      super.loadStateDict(stateDict);
      deviceSkipOf(this.#gpujs).restart();
    });
  }

  /**
   * Makes `skippedSteps`, `lastStepSkipped`, `lossScaler.scale` and the groups' `step` include
   * every step so far. On `webgl2`/`webgpu` with `nonFinite: 'skip'` the device keeps them and
   * this reads them back: one small read however many steps ran since the last one (a promise on
   * `webgpu`). Everywhere else they are current at once and nothing is read.
   */
  settled(): MaybePromise<void> {
    this.#assertLive('settled()');
    return andThen(this.#gpujs.settle(), () => deviceSkipOf(this.#gpujs).settle());
  }

  /**
   * The loss scale of the next step as a 1-element tensor, for your backward kernel to multiply
   * the loss gradient by, so a training loop reads nothing back. Where the device decides 'skip'
   * (`webgl2`, `webgpu`) it is the first element of the optimizer's control tensor (a texture or
   * buffer with more elements: read element 0), valid until the next `step()` or `stepParam()`; elsewhere a
   * `Float32Array` of `lossScaler.scale`. A promise on `webgpu`.
   */
  lossScaleTensor(): MaybePromise<GpuJsTensor> {
    this.#assertLive('lossScaleTensor()');
    const scaler = this.lossScaler;
    if (!scaler) {
      throw new UnsupportedBackendError('lossScaleTensor() needs a lossScaler', 'Construct the optimizer with { lossScaler }.');
    }
    const onDevice = this.#gpujs.skipsOnDevice?.() && this.paramGroups.some((group) => group.nonFinite === 'skip');
    if (!onDevice) return Float32Array.of(scaler.scale);
    return andThen(this.#gpujs.settle(), () => deviceSkipOf(this.#gpujs).control());
  }

  /** Reads every param (flat order across groups) back to the host: the only param readback. */
  readParams(): MaybePromise<Float32Array[]> {
    this.#assertLive('readParams()');
    return settle(this.paramGroups.flatMap((group) => group.params.map((p) => this.#gpujs.readParam(p))));
  }

  /** Reads one param back to the host. */
  readParam(param: GpuJsParam): MaybePromise<Float32Array> {
    this.#assertLive('readParam()');
    if (!this.paramGroups.some((group) => group.params.includes(param))) {
      throw new InvalidParamError('param', 'is not managed by this optimizer', 'Pass one of the params it was constructed with.');
    }
    return this.#gpujs.readParam(param);
  }

  /** Kernel launches, readbacks and tensors held so far. */
  get stats(): GpuJsStats {
    return this.#gpujs.stats;
  }

  /**
   * Frees every kernel and tensor the optimizer created, the params' current device tensors
   * included (read them first). Tensors you passed in are left alone. The optimizer is unusable
   * afterwards: `step()`, `stepParam()`, `stateDict()`, `loadStateDict()` and the reads throw an
   * `OptimizerDisposedError`.
   */
  override dispose(): MaybePromise<void> {
    if (this.#disposed) return undefined;
    this.#disposed = true;
    return andThen(this.#gpujs.settle(), () => {
      super.dispose();
      return this.#gpujs.destroy();
    });
  }

  /** A call whose counters the host keeps may not run while the device's are unread. */
  #requireSettled(what: string): void {
    const pending = deviceSkipOf(this.#gpujs).pending;
    if (pending === 0) return;
    throw new UnsupportedBackendError(
      `${what} counts on the host, but ${pending} step(s) whose counters the ${this.mode} device keeps (nonFinite: 'skip') are not read yet`,
      'await optimizer.settled() first.',
    );
  }

  /** Core's own check runs only after `dispose()` has settled the device, so the gpu.js side refuses at once. */
  #assertLive(method: string): void {
    if (this.#disposed) throw new OptimizerDisposedError(method);
  }
}
