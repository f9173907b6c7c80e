import { InvalidHyperparameterError, type MaybePromise, UnsupportedBackendError } from '@stable-adamw/core';
import {
  andThen,
  keepPending,
  type MomentScalars,
  type StableAdamWBackendV1,
  type TensorInfo,
  type TensorStateValues,
  type TensorStep,
  type UpdateScalars,
} from '@stable-adamw/core/adapter';
import type { GPU } from 'gpu.js';
import { describeDevice, type GpuJsMode } from './device.js';
import { DeviceSkip } from './device-skip.js';
import { type FusedCounts, FusedWebGPU } from './fused-step.js';
import { KernelCache } from './kernels/kernel-cache.js';
import { findNonFiniteGrads } from './non-finite.js';
import { checkGpuJsGrad, describeGpuJsParam, type GpuJsParam } from './param.js';
import { exportedState, type GpuJsState, importedState, zeroState } from './state.js';
import { stepBatch } from './step-batch.js';
import type { BatchItem, StepEnvironment } from './step-types.js';
import { deleteDeviceTensor, type GpuJsTensor, isDeviceTensor, readTensor } from './tensor.js';
import { forgetVectorKernels } from './vector-step.js';
import { WebGL2Programs } from './webgl2-step.js';

/** Where `createGpujsBackend` runs its kernels. */
export interface GpuJsBackendOptions {
  /** The gpu.js instance that runs the optimizer's kernels (and made any texture params or grads). */
  gpu: GPU;
  /** Kernel precision: only `'single'` (float32). `'unsigned'` (8-bit packed textures) is refused. */
  precision?: 'single';
  /**
   * `'auto'` (default): `'webgpu-multi-tensor'` on gpu.js `webgpu`, `'webgl2-programs'` on
   * `webgl2`, else the mode's path (see `GpuJsKernelPath`). `'per-tensor'`: gpu.js kernels per
   * tensor on `webgpu` and `webgl2` too.
   */
  kernel?: 'auto' | 'per-tensor';
}

/**
 * The backend scalar of phase 1. A full per-tensor step (`stepParam`) runs both phases as one
 * transaction in `applyUpdate`, so `updateMoments` hands over its scalars instead of a device sum;
 * an accumulation-only call runs at once and yields nothing.
 */
export type GpuJsSum = MaybePromise<MomentScalars | undefined>;

/**
 * How a step's tensors reach the kernels. `'host-packed'` (`cpu`): the tensors of a step that
 * share their scalars run as one pack — a fixed number of launches however many tensors there are
 * (one pack per 2^18 elements); larger tensors, and `stepParam` (gradient release), run per
 * tensor. `'per-tensor'` (`webasm`, where it measured faster, and GPU modes): a fixed number of
 * launches per tensor. `'webgpu-multi-tensor'` (`webgpu`): every tensor of a step in three
 * WebGPU compute dispatches of the optimizer's own and one submit, however many tensors there are;
 * steps whose device decides `nonFinite: 'skip'`, and `stepParam`, run per tensor.
 * `'webgl2-programs'` (`webgl2`): WebGL2 programs of the optimizer's own on gpu.js's context. The
 * tensors of a step up to 2^16 elements run as packs of four draws however many tensors there are
 * (one pack per MAX_TEXTURE_SIZE² texels: 8192² on SwiftShader), their gradients copied in and new
 * params and moments copied out with `copyTexSubImage2D` (commands, not draws); larger tensors
 * take four draws each. About three times as fast per element as gpu.js's kernels; steps whose
 * device decides `nonFinite: 'skip'`, and `stepParam`, run gpu.js kernels per tensor.
 */
export type GpuJsKernelPath = 'host-packed' | 'per-tensor' | 'webgpu-multi-tensor' | 'webgl2-programs';

/** What the backend has done so far, for diagnostics (`opt.stats`). */
export interface GpuJsStats {
  /**
   * Kernel launches since construction: gpu.js kernels, the WebGPU compute dispatches of
   * `'webgpu-multi-tensor'` steps and the WebGL draws of `'webgl2-programs'` steps.
   */
  readonly launches: number;
  /** WebGPU compute dispatches of `'webgpu-multi-tensor'` steps (3 per step and batch); also counted in `launches`. */
  readonly dispatches: number;
  /** WebGPU queue submits of `'webgpu-multi-tensor'` steps (1 per step). */
  readonly submits: number;
  /** WebGL draw calls of `'webgl2-programs'` steps (4 per pack of tensors up to 2^16 elements, 4 per larger tensor); also counted in `launches`. */
  readonly draws: number;
  /**
   * Texture copies (`copyTexSubImage2D`) of `'webgl2-programs'` steps: per packed tensor its
   * gradient in and its new m, v and θ out, plus m, v or θ in where the pack did not write them.
   * Not launches.
   */
  readonly copies: number;
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
  /** How the last batched step ran its kernels, or before any, how one without device-decided 'skip' will (see `GpuJsKernelPath`). */
  readonly kernelPath: GpuJsKernelPath;
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

const deviceSkips = new WeakMap<GpuJsBackend, DeviceSkip>();

/** The counters of a backend's device-decided 'skip' steps (webgl2, webgpu; see device-skip.ts). */
export function deviceSkipOf(backend: GpuJsBackend): DeviceSkip {
  return deviceSkips.get(backend) as DeviceSkip;
}

function checkOptions(options: GpuJsBackendOptions | undefined): GPU {
  const { gpu, precision, kernel } = options ?? ({} as Partial<GpuJsBackendOptions>);
  if (kernel !== undefined && kernel !== 'auto' && kernel !== 'per-tensor') {
    throw new InvalidHyperparameterError(
      'kernel',
      kernel,
      "must be 'auto' or 'per-tensor'",
      "Drop the option or pass kernel: 'per-tensor'.",
    );
  }
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
 * and state stay on the device; a step launches the moments, a reduction for the RMS and the
 * update (per tensor, or per pack of tensors on `cpu`: see `GpuJsKernelPath`), and reads
 * nothing back. A loss scaler's unscale is folded into phase 1. On `webgl2` and `webgpu`,
 * `nonFinite: 'skip'` is decided on the device, in whole steps (`skipsOnDevice`) and gradient
 * release's `stepParam` (`skipsParamOnDevice`; see device-skip.ts); elsewhere,
 * and for 'throw', `findNonFinite` counts NaN/±Inf on the device and reads one small table back. Throws `InvalidHyperparameterError` for a missing
 * GPU or `precision: 'unsigned'`, `UnsupportedBackendError` for a mode without float kernels.
 */
export function createGpujsBackend(options: GpuJsBackendOptions): GpuJsBackend {
  const gpu = checkOptions(options);
  const device = describeDevice(gpu);
  const kernels = new KernelCache(gpu);
  const owned = new Set<GpuJsTensor>();
  let readbacks = 0;
  /** The last step's work (promise-returning modes); it never rejects, its caller saw the error. */
  let pending: MaybePromise<void>;

  const env: StepEnvironment = {
    kernels,
    device,
    gpu,
    own(tensor) {
      owned.add(tensor);
      return tensor;
    },
    release(tensor) {
      if (owned.delete(tensor)) deleteDeviceTensor(tensor);
    },
  };
  const read = (tensor: GpuJsTensor): MaybePromise<Float32Array> => {
    if (isDeviceTensor(tensor)) readbacks += 1;
    return readTensor(tensor);
  };
  /** Runs `run` after the previous step; a failed step leaves the chain usable. */
  const chain = (run: () => MaybePromise<void>): MaybePromise<void> => {
    const result = andThen(pending, run);
    pending = result instanceof Promise ? result.catch(() => undefined) : undefined;
    return result;
  };
  /** Runs a step after the previous one. */
  const enqueue = (items: readonly BatchItem[], onDevice = false, batched = false): MaybePromise<void> => {
    const path = batched && !onDevice ? fastPath : basePath;
    if (batched) kernelPath = path;
    return chain(() => {
      if (onDevice) return deviceSkip.step(items, (batch) => stepBatch(env, batch));
      if (path === 'webgpu-multi-tensor') return (fused as FusedWebGPU).step(items);
      if (path === 'webgl2-programs') return (glPrograms as WebGL2Programs).step(items);
      return stepBatch(env, items);
    });
  };
  const onGpu = device.mode === 'webgl2' || device.mode === 'webgpu';
  const deviceSkip = new DeviceSkip(env, read);
  const counts: FusedCounts & { draws: number; copies: number } = { dispatches: 0, submits: 0, draws: 0, copies: 0 };
  const fused = device.vectorKernels && options.kernel !== 'per-tensor' ? new FusedWebGPU(env, counts) : undefined;
  const glPrograms = device.mode === 'webgl2' && options.kernel !== 'per-tensor' ? new WebGL2Programs(env, counts) : undefined;
  const basePath: GpuJsKernelPath = device.packsHostTensors ? 'host-packed' : 'per-tensor';
  /** The path of a batched step whose device does not decide 'skip'. */
  const fastPath: GpuJsKernelPath = fused ? 'webgpu-multi-tensor' : glPrograms ? 'webgl2-programs' : basePath;
  let kernelPath: GpuJsKernelPath = fastPath;
  const batchItems = (items: readonly TensorStep<GpuJsParam, GpuJsTensor, GpuJsState>[]): BatchItem[] =>
    items.map(({ param, grad, state, moments, update }) => ({ param, grad, state, moments, update }));

  const backend: GpuJsBackend = {
    specificationVersion: 'v1',
    backendId: `gpujs-${device.mode}`,
    mode: device.mode,
    get kernelPath() {
      return kernelPath;
    },

    describeParam: (param, where) => describeGpuJsParam(param, where, device, gpu),
    getGrad: (param) => param.grad,
    clearGrad(param) {
      param.grad = null;
    },
    // zeroGrad({ setToNone: false }): host gradients are zeroed in place; gpu.js kernels cannot
    // write into an existing texture or buffer, so a device gradient has no in-place zeroing.
    zeroGradInPlace(param) {
      if (isDeviceTensor(param.grad)) {
        throw new UnsupportedBackendError(
          `zeroGrad({ setToNone: false }) cannot zero ${param.name ?? 'a param'}'s device gradient in place on gpu.js`,
          'Use zeroGrad() (setToNone: true) and hand in the next gradient as a new texture.',
        );
      }
      param.grad?.fill(0);
    },
    checkGrad: (_param, grad, info) => checkGpuJsGrad(grad, info, gpu),
    // The moments and the RMS's sum kernels multiply every gradient value by MomentScalars.gradScale.
    supportsGradScale: true,
    // 'throw', and 'skip' where the host decides: one table of counts for the step's device gradients, read back once.
    findNonFinite: (items) =>
      andThen(pending, () =>
        findNonFiniteGrads(
          env,
          items.map(({ grad }) => grad),
          read,
        ),
      ),

    createState: (param: GpuJsParam, info: TensorInfo) => zeroState(param, info.numel),
    importState: (param: GpuJsParam, _info: TensorInfo, values: TensorStateValues) => importedState(param, values),
    exportState: (state) => andThen(pending, () => exportedState(state, read)),
    disposeState(state) {
      keepPending(
        andThen(pending, () => {
          env.release(state.expAvg);
          env.release(state.expAvgSq);
          forgetVectorKernels(kernels, state);
        }),
      );
    },

    stepTensors: (items) => enqueue(batchItems(items), false, true),
    // webgl2 and webgpu decide 'skip' on the device; cpu and webasm hold host arrays, scanned on the host.
    skipsOnDevice: () => onGpu,
    stepTensorsOnDevice: (items) => enqueue(batchItems(items), true, true),
    // Gradient release under 'skip' on webgl2 and webgpu: per-tensor gpu.js kernels after the call's own control launch.
    skipsParamOnDevice: () => onGpu,
    stepParamOnDevice: ({ param, grad, state, moments, update }) =>
      chain(() =>
        deviceSkip.stepParam({ param, grad, state, moments, update: moments.reduce ? update : null }, (batch) =>
          stepBatch(env, batch),
        ),
      ),
    updateMoments(param, grad, state, moments: MomentScalars): GpuJsSum {
      return moments.reduce ? moments : andThen(enqueue([{ param, grad, state, moments, update: null }]), () => undefined);
    },
    applyUpdate(param, grad, state, phase1, update: UpdateScalars): MaybePromise<void> {
      return andThen(phase1, (moments) => enqueue([{ param, grad, state, moments: moments as MomentScalars, update }]));
    },

    readParam: (param) => andThen(pending, () => read(param.data)),
    whenReady: () => pending,
    settle: () => pending,
    get stats(): GpuJsStats {
      return {
        launches: kernels.launches + counts.dispatches + counts.draws,
        dispatches: counts.dispatches,
        submits: counts.submits,
        draws: counts.draws,
        copies: counts.copies,
        readbacks,
        liveTensors: owned.size,
        kernels: kernels.size,
        executedModes: kernels.executedModes,
      };
    },
    destroy: () =>
      andThen(pending, () => {
        for (const tensor of owned) deleteDeviceTensor(tensor);
        owned.clear();
        fused?.destroy();
        glPrograms?.destroy();
        kernels.destroy();
      }),
  };
  deviceSkips.set(backend, deviceSkip);
  return backend;
}
