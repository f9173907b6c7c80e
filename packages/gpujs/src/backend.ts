import type {
  MaybePromise,
  MomentScalars,
  StableAdamWBackendV1,
  TensorInfo,
  TensorStateValues,
  UpdateScalars,
} from '@stable-adamw/core';
import { type GpuJsDevice, REDUCTION_BLOCK } from './device.js';
import { andThen, keepPending } from './maybe-promise.js';
import { checkGpuJsGrad, describeGpuJsParam, type GpuJsParam } from './param.js';
import { type GpuJsTensor, isDeviceTensor, numelOf, readTensor } from './tensor.js';

/** Per-tensor optimizer state: float32 moments, on the device after the first step. */
export interface GpuJsState {
  readonly param: GpuJsParam;
  expAvg: GpuJsTensor;
  expAvgSq: GpuJsTensor;
  /** Work still in flight on this tensor (promise-returning modes); later operations wait for it. */
  ready: MaybePromise<void>;
}

/** The backend scalar of phase 1: the 1-element sum Σ g²/max(v, ε²), left on the device. */
export type GpuJsSum = MaybePromise<GpuJsTensor | undefined>;

/** What the backend has done so far, for tests and diagnostics. */
export interface GpuJsStats {
  /** Kernel launches since construction. */
  readonly launches: number;
  /** Reads of device tensors back to the host. */
  readonly readbacks: number;
  /** Tensors the optimizer's kernels produced and it still holds (params, moments, partial sums). */
  readonly liveTensors: number;
  /** Compiled kernels. */
  readonly kernels: number;
  /** gpu.js kernel classes that ran, e.g. `['webgl2']`; a fallback shows up as `'cpu'`. */
  readonly executedModes: readonly string[];
}

/** The gpu.js backend of the v1 contract; one per optimizer, owning its kernels and tensors. */
export class GpuJsBackend implements StableAdamWBackendV1<GpuJsParam, GpuJsTensor, GpuJsState, GpuJsSum> {
  readonly specificationVersion = 'v1';
  readonly backendId: string;
  readonly device: GpuJsDevice;
  readonly #owned = new Set<GpuJsTensor>();
  readonly #states = new Map<GpuJsParam, GpuJsState>();
  #readbacks = 0;

  constructor(device: GpuJsDevice) {
    this.device = device;
    this.backendId = `gpujs-${device.mode}`;
  }

  describeParam(param: GpuJsParam, where: string): TensorInfo {
    return describeGpuJsParam(param, where, this.device.maxElements, this.device.limitName);
  }

  getGrad(param: GpuJsParam): GpuJsTensor | null | undefined {
    return param.grad;
  }

  clearGrad(param: GpuJsParam): void {
    param.grad = null;
  }

  checkGrad = checkGpuJsGrad;

  createState(param: GpuJsParam, info: TensorInfo): GpuJsState {
    // Host zeros: the first moments kernel uploads them and its outputs live on the device.
    return this.#track({ param, expAvg: new Float32Array(info.numel), expAvgSq: new Float32Array(info.numel), ready: undefined });
  }

  importState(param: GpuJsParam, _info: TensorInfo, values: TensorStateValues): GpuJsState {
    return this.#track({
      param,
      expAvg: Float32Array.from(values.expAvg),
      expAvgSq: Float32Array.from(values.expAvgSq),
      ready: undefined,
    });
  }

  exportState(state: GpuJsState): MaybePromise<TensorStateValues> {
    return andThen(state.ready, () =>
      andThen(this.read(state.expAvg), (expAvg) =>
        andThen(this.read(state.expAvgSq), (expAvgSq) => ({ expAvg, expAvgSq, kahanComp: null })),
      ),
    );
  }

  disposeState(state: GpuJsState): void {
    if (this.#states.get(state.param) === state) this.#states.delete(state.param);
    keepPending(
      andThen(state.ready, () => {
        this.#release(state.expAvg);
        this.#release(state.expAvgSq);
      }),
    );
  }

  updateMoments(_param: GpuJsParam, grad: GpuJsTensor, state: GpuJsState, s: MomentScalars): GpuJsSum {
    const result = andThen(state.ready, () =>
      andThen(this.#stateOnDevice(state), () =>
        andThen(this.#onDevice(grad), (g) => {
          const numel = numelOf(state.expAvg);
          const sum = andThen(this.device.moments(numel, g, state.expAvg, state.expAvgSq, s.beta1Hat, s.beta2Hat), (next) => {
            this.#release(state.expAvg);
            this.#release(state.expAvgSq);
            state.expAvg = this.#own(next.expAvg);
            state.expAvgSq = this.#own(next.expAvgSq);
            return s.reduce ? this.#reduce(numel, g, state.expAvgSq, s.epsSq) : undefined;
          });
          // An uploaded copy of a host gradient is the optimizer's own; the caller's gradient is never freed.
          return andThen(sum, (value) => {
            if (g !== grad) this.#release(g);
            return value;
          });
        }),
      ),
    );
    state.ready = keepPending(andThen(result, () => undefined));
    return result;
  }

  applyUpdate(
    param: GpuJsParam,
    _grad: GpuJsTensor,
    state: GpuJsState,
    sumSquares: GpuJsSum,
    s: UpdateScalars,
  ): MaybePromise<void> {
    const result = andThen(sumSquares, (sum) =>
      andThen(this.#onDevice(param.data), (current) =>
        andThen(
          this.device.update(s.numel, current, state.expAvg, state.expAvgSq, sum as GpuJsTensor, s.lr, s.eps, s.weightDecayPerLr),
          (next) => {
            this.#release(sum as GpuJsTensor);
            this.#release(current);
            this.#release(param.data);
            param.data = this.#own(next);
          },
        ),
      ),
    );
    state.ready = keepPending(result);
    return result;
  }

  /** The param's values once pending steps finish; the only readback besides `exportState`. */
  readParam(param: GpuJsParam): MaybePromise<Float32Array> {
    return andThen(this.whenReady(param), () => this.read(param.data));
  }

  /** Waits for pending work on one param's tensors. */
  whenReady(param: GpuJsParam): MaybePromise<void> {
    return this.#states.get(param)?.ready;
  }

  /** Waits for every pending step (promise-returning modes). */
  settle(): MaybePromise<void> {
    const pending = [...this.#states.values()].map((s) => s.ready).filter((r) => r instanceof Promise);
    return pending.length > 0 ? Promise.all(pending).then(() => undefined) : undefined;
  }

  /** Reads a tensor back, counting device readbacks. */
  read(tensor: GpuJsTensor): MaybePromise<Float32Array> {
    if (isDeviceTensor(tensor)) this.#readbacks += 1;
    return readTensor(tensor);
  }

  get stats(): GpuJsStats {
    return {
      launches: this.device.launches,
      readbacks: this.#readbacks,
      liveTensors: this.#owned.size,
      kernels: this.device.kernelCount,
      executedModes: this.device.executedModes,
    };
  }

  /** Deletes every tensor the optimizer created (current params included) and its kernels. */
  destroy(): MaybePromise<void> {
    return andThen(this.settle(), () => {
      for (const tensor of this.#owned) if (isDeviceTensor(tensor)) tensor.delete();
      this.#owned.clear();
      this.#states.clear();
      this.device.destroy();
    });
  }

  /** Sums g²/max(v, ε²) down a tree of block sums to one element, never leaving the device. */
  #reduce(numel: number, grad: GpuJsTensor, expAvgSq: GpuJsTensor, epsSq: number): MaybePromise<GpuJsTensor> {
    const level = (partial: GpuJsTensor, length: number): MaybePromise<GpuJsTensor> => {
      if (length <= 1) return partial;
      return andThen(this.device.blockSum(length, partial), (next) => {
        this.#release(partial);
        return level(this.#own(next), Math.ceil(length / REDUCTION_BLOCK));
      });
    };
    return andThen(this.device.sumSquares(numel, grad, expAvgSq, epsSq), (first) =>
      level(this.#own(first), Math.ceil(numel / REDUCTION_BLOCK)),
    );
  }

  /**
   * Host arrays (initial params, gradients, fresh or imported state) go through one upload kernel
   * first, so the optimizer's kernels always see device tensors: gpu.js compiles a kernel per
   * argument-type signature and keeps every variant alive until the GPU is destroyed.
   */
  #onDevice(tensor: GpuJsTensor): MaybePromise<GpuJsTensor> {
    if (this.device.hostResident || isDeviceTensor(tensor)) return tensor;
    return andThen(this.device.upload(tensor), (uploaded) => this.#own(uploaded));
  }

  #stateOnDevice(state: GpuJsState): MaybePromise<void> {
    return andThen(this.#onDevice(state.expAvg), (expAvg) => {
      state.expAvg = expAvg;
      return andThen(this.#onDevice(state.expAvgSq), (expAvgSq) => {
        state.expAvgSq = expAvgSq;
      });
    });
  }

  #track(state: GpuJsState): GpuJsState {
    this.#states.set(state.param, state);
    return state;
  }

  #own(tensor: GpuJsTensor): GpuJsTensor {
    this.#owned.add(tensor);
    return tensor;
  }

  /** Frees a tensor the optimizer created; user-provided tensors are left alone. */
  #release(tensor: GpuJsTensor): void {
    if (!this.#owned.delete(tensor)) return;
    if (isDeviceTensor(tensor)) tensor.delete();
  }
}
