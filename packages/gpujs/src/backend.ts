import { InvalidHyperparameterError, type MaybePromise } from '@stable-adamw/core';
import {
  andThen,
  keepPending,
  type MomentScalars,
  type StableAdamWBackendV1,
  settle,
  type TensorInfo,
  type TensorStateValues,
  type UpdateScalars,
} from '@stable-adamw/core/adapter';
import type { GPU } from 'gpu.js';
import { describeDevice, type GpuJsMode } from './device.js';
import { KernelCache } from './kernels/kernel-cache.js';
import { launchMoments } from './kernels/moments.js';
import { reduceSumSquares } from './kernels/rms-reduction.js';
import { launchUpdate } from './kernels/update.js';
import { upload } from './kernels/upload.js';
import { checkGpuJsGrad, describeGpuJsParam, type GpuJsParam } from './param.js';
import { exportedState, type GpuJsState, importedState, zeroState } from './state.js';
import { deleteDeviceTensor, type GpuJsTensor, isDeviceTensor, numelOf, readTensor } from './tensor.js';

/** Where `createGpujsBackend` runs its kernels. */
export interface GpuJsBackendOptions {
  /** The gpu.js instance that runs the optimizer's kernels (and made any texture params or grads). */
  gpu: GPU;
  /** Kernel precision: only `'single'` (float32). `'unsigned'` (8-bit packed textures) is refused. */
  precision?: 'single';
}

/** The backend scalar of phase 1: the 1-element sum Σ g²/max(v, ε²), left on the device. */
export type GpuJsSum = MaybePromise<GpuJsTensor | undefined>;

/** What the backend has done so far, for diagnostics (`opt.stats`). */
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

/**
 * The gpu.js backend of core's v1 contract (params carry their `.grad`), plus the device-side
 * reads and cleanup `StableAdamW` builds on. One per optimizer: it owns its kernels and tensors.
 */
export interface GpuJsBackend extends StableAdamWBackendV1<GpuJsParam, GpuJsTensor, GpuJsState, GpuJsSum> {
  /** Where the kernels run, e.g. `webgl2` (what `new GPU()` resolved to), or `async`. */
  readonly mode: GpuJsMode;
  getGrad(param: GpuJsParam): GpuJsTensor | null | undefined;
  clearGrad(param: GpuJsParam): void;
  /** The param's values once pending steps finish; the only readback besides `exportState`. */
  readParam(param: GpuJsParam): MaybePromise<Float32Array>;
  /** Waits for pending work on one param's tensors. */
  whenReady(param: GpuJsParam): MaybePromise<void>;
  /** Waits for every pending step (promise-returning modes). */
  settle(): MaybePromise<void>;
  /** Kernel launches, readbacks and tensors held so far. */
  readonly stats: GpuJsStats;
  /** Deletes every tensor the backend created (current params included) and its kernels. */
  destroy(): MaybePromise<void>;
}

function checkOptions(options: GpuJsBackendOptions | undefined): GPU {
  const { gpu, precision } = options ?? ({} as Partial<GpuJsBackendOptions>);
  if (precision !== undefined && precision !== 'single') {
    throw new InvalidHyperparameterError(
      'precision',
      precision,
      "must be 'single': 'unsigned' packs every value into 8-bit texture channels, far too coarse for optimizer state",
      "Drop the option or pass precision: 'single'.",
    );
  }
  if (typeof gpu !== 'object' || gpu === null || typeof (gpu as Partial<GPU>).createKernel !== 'function') {
    throw new InvalidHyperparameterError(
      'gpu',
      gpu,
      'must be a gpu.js GPU instance',
      "Pass { gpu: new GPU({ mode: 'webgl2' }) } (or the GPU that runs your model).",
    );
  }
  return gpu;
}

/**
 * Creates the gpu.js backend of core's `StableAdamWOptimizer` on `options.gpu`: params, gradients
 * and state stay on the device; each tensor's step launches the moments, a tree reduction for the
 * RMS and the update, and reads nothing back. Throws `InvalidHyperparameterError` for a missing
 * GPU or `precision: 'unsigned'`, `UnsupportedBackendError` for a mode without float kernels.
 */
export function createGpujsBackend(options: GpuJsBackendOptions): GpuJsBackend {
  const gpu = checkOptions(options);
  const device = describeDevice(gpu);
  const kernels = new KernelCache(gpu);
  const owned = new Set<GpuJsTensor>();
  const states = new Map<GpuJsParam, GpuJsState>();
  let readbacks = 0;

  const own = (tensor: GpuJsTensor): GpuJsTensor => {
    owned.add(tensor);
    return tensor;
  };
  /** Frees a tensor the optimizer created; user-provided tensors are left alone. */
  const release = (tensor: GpuJsTensor): void => {
    if (owned.delete(tensor)) deleteDeviceTensor(tensor);
  };
  const track = (state: GpuJsState): GpuJsState => {
    states.set(state.param, state);
    return state;
  };
  const read = (tensor: GpuJsTensor): MaybePromise<Float32Array> => {
    if (isDeviceTensor(tensor)) readbacks += 1;
    return readTensor(tensor);
  };
  /**
   * Host arrays (initial params, gradients, fresh or imported state) go through one upload kernel
   * first, so the optimizer's kernels always see device tensors: gpu.js compiles a kernel per
   * argument-type signature and keeps every variant alive until the GPU is destroyed.
   */
  const onDevice = (tensor: GpuJsTensor): MaybePromise<GpuJsTensor> => {
    if (device.hostResident || isDeviceTensor(tensor)) return tensor;
    return andThen(upload(kernels, tensor), own);
  };
  const stateOnDevice = (state: GpuJsState): MaybePromise<void> =>
    andThen(onDevice(state.expAvg), (expAvg) => {
      state.expAvg = expAvg;
      return andThen(onDevice(state.expAvgSq), (expAvgSq) => {
        state.expAvgSq = expAvgSq;
      });
    });
  const settleAll = (): MaybePromise<void> => andThen(settle([...states.values()].map((s) => s.ready)), () => undefined);

  return {
    specificationVersion: 'v1',
    backendId: `gpujs-${device.mode}`,
    mode: device.mode,

    describeParam: (param, where) => describeGpuJsParam(param, where, device.maxElements, device.limitName),
    getGrad: (param) => param.grad,
    clearGrad(param) {
      param.grad = null;
    },
    checkGrad: checkGpuJsGrad,

    createState: (param: GpuJsParam, info: TensorInfo) => track(zeroState(param, info.numel)),
    importState: (param: GpuJsParam, _info: TensorInfo, values: TensorStateValues) => track(importedState(param, values)),
    exportState: (state) => exportedState(state, read),
    disposeState(state) {
      if (states.get(state.param) === state) states.delete(state.param);
      keepPending(
        andThen(state.ready, () => {
          release(state.expAvg);
          release(state.expAvgSq);
        }),
      );
    },

    updateMoments(_param, grad, state, s: MomentScalars): GpuJsSum {
      const result = andThen(state.ready, () =>
        andThen(stateOnDevice(state), () =>
          andThen(onDevice(grad), (g) => {
            const numel = numelOf(state.expAvg);
            const sum = andThen(
              launchMoments(kernels, device.usesKernelMap, numel, g, state.expAvg, state.expAvgSq, s),
              (next) => {
                release(state.expAvg);
                release(state.expAvgSq);
                state.expAvg = own(next.expAvg);
                state.expAvgSq = own(next.expAvgSq);
                return s.reduce ? andThen(reduceSumSquares(kernels, numel, g, state.expAvgSq, s.epsSq), own) : undefined;
              },
            );
            // An uploaded copy of a host gradient is the optimizer's own; the caller's gradient is never freed.
            return andThen(sum, (value) => {
              if (g !== grad) release(g);
              return value;
            });
          }),
        ),
      );
      state.ready = keepPending(andThen(result, () => undefined));
      return result;
    },

    applyUpdate(param, _grad, state, sumOfSquares, s: UpdateScalars): MaybePromise<void> {
      const result = andThen(sumOfSquares, (sum) =>
        andThen(onDevice(param.data), (current) =>
          andThen(launchUpdate(kernels, s.numel, current, state.expAvg, state.expAvgSq, sum as GpuJsTensor, s), (next) => {
            release(sum as GpuJsTensor);
            release(current);
            release(param.data);
            param.data = own(next);
          }),
        ),
      );
      state.ready = keepPending(result);
      return result;
    },

    readParam: (param) => andThen(states.get(param)?.ready, () => read(param.data)),
    whenReady: (param) => states.get(param)?.ready,
    settle: settleAll,
    get stats(): GpuJsStats {
      return {
        launches: kernels.launches,
        readbacks,
        liveTensors: owned.size,
        kernels: kernels.size,
        executedModes: kernels.executedModes,
      };
    },
    destroy: () =>
      andThen(settleAll(), () => {
        for (const tensor of owned) deleteDeviceTensor(tensor);
        owned.clear();
        states.clear();
        kernels.destroy();
      }),
  };
}
