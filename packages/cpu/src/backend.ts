import type { Dtype, MaybePromise } from '@stable-adamw/core';
import {
  andThen,
  clippedLearningRate,
  type MomentScalars,
  rmsFromSum,
  type StableAdamWBackendV1,
  settle,
  type TensorStep,
  type UpdateScalars,
} from '@stable-adamw/core/adapter';
import {
  bufferState,
  bufferStepProblem,
  checkBufferData,
  isBufferGrad,
  placementOf,
  releaseBufferState,
} from './buffer-registry.js';
import { applyUpdateFloat, type FloatArray, updateMomentsFloat } from './kernels/float-kernel.js';
import { applyUpdateHalf, updateMomentsHalf } from './kernels/half-bits-kernel.js';
import { codecOf } from './kernels/half-codecs.js';
import { hasNonFinite } from './kernels/non-finite.js';
import type { WasmStepItem, WasmStepper } from './kernels/wasm/wasm-stepper.js';
import { type CpuGradient, type CpuParam, checkCpuGrad, describeCpuParam } from './param.js';
import { type CpuState, createCpuState, exportCpuState, importCpuState } from './state.js';

/** Phase 1 through the typed-array kernels (any array type, including buffer views). */
function updateMomentsJs(param: CpuParam, grad: CpuGradient, state: CpuState, s: MomentScalars): number {
  const codec = codecOf(param.data, (param.dtype ?? 'float32') as Dtype);
  if (codec) {
    return updateMomentsHalf(
      codec,
      grad as Uint16Array | Float32Array,
      state.expAvg as Uint16Array,
      state.expAvgSq as Uint16Array,
      s.beta1Hat,
      s.beta2Hat,
      s.epsSq,
      s.reduce,
      s.gradScale,
    );
  }
  return updateMomentsFloat(
    grad as FloatArray,
    state.expAvg as FloatArray,
    state.expAvgSq as FloatArray,
    s.beta1Hat,
    s.beta2Hat,
    s.epsSq,
    s.reduce,
    s.gradScale,
  );
}

/** Phase 2 through the typed-array kernels. */
function applyUpdateJs(param: CpuParam, state: CpuState, sumSquares: number, s: UpdateScalars): void {
  const eta = clippedLearningRate(s.lr, rmsFromSum(sumSquares, s.numel));
  const decay = 1 - eta * s.weightDecayPerLr;
  const kahanComp = s.kahan ? state.kahanComp : null;
  const codec = codecOf(param.data, (param.dtype ?? 'float32') as Dtype);
  if (codec) {
    applyUpdateHalf(
      codec,
      param.data as Uint16Array,
      state.expAvg as Uint16Array,
      state.expAvgSq as Uint16Array,
      kahanComp as Uint16Array | null,
      eta,
      decay,
      s.eps,
    );
  } else {
    applyUpdateFloat(
      param.data as FloatArray,
      state.expAvg as FloatArray,
      state.expAvgSq as FloatArray,
      kahanComp as FloatArray | null,
      eta,
      decay,
      s.eps,
    );
  }
}

/**
 * Whether a gradient holds NaN or ±Inf: a buffer's own gradient view is scanned by its WebAssembly
 * kernel (SIMD), any other gradient by the typed-array scan.
 */
function nonFiniteIn(param: CpuParam, grad: CpuGradient, dtype: Dtype): boolean {
  const placement = placementOf(param);
  if (placement?.stepper && isBufferGrad(placement, grad)) return placement.stepper.hasNonFinite(placement.region);
  return hasNonFinite(grad, dtype);
}

/**
 * Where the WebAssembly kernel can step a param: its `ParamBuffer` placement when the buffer runs
 * that kernel and `grad` is the param's own gradient view. Throws when a buffer param cannot be
 * stepped at all (see `bufferStepProblem`).
 */
function wasmTarget(param: CpuParam, grad: CpuGradient, state: CpuState) {
  const placement = placementOf(param);
  if (!placement) return undefined;
  const problem = bufferStepProblem(placement, state);
  if (problem) throw problem;
  return placement.stepper && isBufferGrad(placement, grad)
    ? { stepper: placement.stepper, region: placement.region }
    : undefined;
}

/**
 * The typed-array backend behind `StableAdamW`: fused two-pass kernels, no allocation per step,
 * a read-only scan for non-finite gradients (`nonFinite: 'skip' | 'throw'`) and the loss scale
 * folded into phase 1.
 * Params of a `ParamBuffer` run its WebAssembly SIMD kernel, all tensors of a step in one call per
 * phase. Gradients are the params' `.grad` unless `step(grads)` passes a map.
 *
 * @returns a backend implementing core's `StableAdamWBackendV1` contract, for
 *   `new StableAdamWOptimizer(backend, params, options)`.
 */
export function createCpuBackend(): StableAdamWBackendV1<CpuParam, CpuGradient, CpuState, number> {
  return {
    specificationVersion: 'v1',
    backendId: 'cpu',
    describeParam(param, where) {
      const info = describeCpuParam(param, where);
      checkBufferData(param, info.name ? `${where} (${info.name})` : where);
      return info;
    },
    getGrad: (param) => param.grad,
    clearGrad: (param) => {
      param.grad = null;
    },
    // Zero bits are +0 in every format, 16-bit patterns included; buffer views stay attached.
    zeroGradInPlace: (param) => {
      param.grad?.fill(0);
    },
    checkGrad: checkCpuGrad,
    // Every kernel (typed-array and WebAssembly) multiplies gradients by MomentScalars.gradScale.
    supportsGradScale: true,
    findNonFinite: (items) => items.flatMap(({ param, grad, info }, i) => (nonFiniteIn(param, grad, info.dtype) ? [i] : [])),

    createState(param, _info, kahan) {
      const placement = placementOf(param);
      return placement ? bufferState(placement, kahan) : createCpuState(param, kahan);
    },

    importState(param, info, values) {
      const placement = placementOf(param);
      return placement ? bufferState(placement, values.kahanComp !== null, values) : importCpuState(param, info, values);
    },

    exportState: exportCpuState,

    disposeState: releaseBufferState,

    updateMoments(param, grad, state, s) {
      const target = wasmTarget(param, grad, state);
      return target ? target.stepper.moments(target.region, s) : updateMomentsJs(param, grad, state, s);
    },

    applyUpdate(param, grad, state, sumSquares, s) {
      const target = wasmTarget(param, grad, state);
      if (target) target.stepper.update(target.region, sumSquares, s);
      else applyUpdateJs(param, state, sumSquares, s);
    },

    stepTensors(items): MaybePromise<void> {
      // Check every buffer param before running anything, so a refused step changes nothing.
      const batches = new Map<WasmStepper, WasmStepItem[]>();
      const rest: TensorStep<CpuParam, CpuGradient, CpuState>[] = [];
      let last: { stepper: WasmStepper; batch: WasmStepItem[] } | undefined;
      for (const item of items) {
        const target = wasmTarget(item.param, item.grad, item.state);
        if (!target) {
          rest.push(item);
          continue;
        }
        // Params of one buffer usually come in a row: look the batch up only when the buffer changes.
        if (last?.stepper !== target.stepper) {
          const batch = batches.get(target.stepper) ?? [];
          batches.set(target.stepper, batch);
          last = { stepper: target.stepper, batch };
        }
        last.batch.push({ region: target.region, moments: item.moments, update: item.update });
      }
      for (const { param, grad, state, moments, update } of rest) {
        applyUpdateJs(param, state, updateMomentsJs(param, grad, state, moments), update);
      }
      // Threaded buffers return a Promise; the rest finish here.
      return andThen(settle([...batches].map(([stepper, batch]) => stepper.step(batch))), () => undefined);
    },
  };
}
