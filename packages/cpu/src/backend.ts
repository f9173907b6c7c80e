import {
  bfloat16ToNumber,
  clippedLearningRate,
  type Dtype,
  float16ToNumber,
  type MaybePromise,
  type MomentScalars,
  numberToBfloat16,
  numberToFloat16,
  rmsFromSum,
  type StableAdamWBackendV1,
  type TensorInfo,
  type TensorStateValues,
  type TensorStep,
  type UpdateScalars,
} from '@stable-adamw/core';
import { bufferState, bufferStepProblem, homeOf, isBufferGrad, releaseBufferState } from './buffer-homes.js';
import { applyUpdateFloat, type FloatArray, updateMomentsFloat } from './kernels/float-kernel.js';
import { applyUpdateHalf, type HalfCodec, updateMomentsHalf } from './kernels/half-bits-kernel.js';
import { type CpuArray, type CpuGradient, type CpuParam, checkCpuGrad, describeCpuParam } from './param.js';
import type { WasmStepItem, WasmStepper } from './wasm/wasm-stepper.js';

/** Per-tensor optimizer state: arrays of the param's own storage type. */
export interface CpuState {
  expAvg: CpuArray;
  expAvgSq: CpuArray;
  kahanComp: CpuArray | null;
}

const bfloat16Codec: HalfCodec = { decode: bfloat16ToNumber, encode: numberToBfloat16 };

let float16Codec: HalfCodec | undefined;
/** float16 decoding through a 64K-entry table, built on first use. */
function getFloat16Codec(): HalfCodec {
  if (!float16Codec) {
    const table = new Float64Array(65536);
    for (let bits = 0; bits < 65536; bits++) table[bits] = float16ToNumber(bits);
    float16Codec = { decode: (bits) => table[bits] as number, encode: numberToFloat16 };
  }
  return float16Codec;
}

/** The codec for bit-pattern storage, or undefined for float arrays. */
function codecOf(data: CpuArray, dtype: Dtype): HalfCodec | undefined {
  if (!(data instanceof Uint16Array)) return undefined;
  return dtype === 'bfloat16' ? bfloat16Codec : getFloat16Codec();
}

function like(data: CpuArray): CpuArray {
  const Ctor = data.constructor as new (length: number) => CpuArray;
  return new Ctor(data.length);
}

function fill(data: CpuArray, values: ArrayLike<number>, codec: HalfCodec | undefined): CpuArray {
  const out = like(data);
  for (let i = 0; i < values.length; i++) out[i] = codec ? codec.encode(values[i] as number) : (values[i] as number);
  return out;
}

function read(data: CpuArray, codec: HalfCodec | undefined): Float64Array {
  return Float64Array.from(data as ArrayLike<number>, (x) => (codec ? codec.decode(x) : x));
}

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
 * Where the WebAssembly kernel can step a param: its `ParamBuffer` home when the buffer runs that
 * kernel and `grad` is the param's own gradient view. Throws when a buffer param cannot be stepped
 * at all (see `bufferStepProblem`).
 */
function wasmTarget(param: CpuParam, grad: CpuGradient, state: CpuState) {
  const home = homeOf(param);
  if (!home) return undefined;
  const problem = bufferStepProblem(home, state);
  if (problem) throw problem;
  return home.stepper && isBufferGrad(home, grad) ? { stepper: home.stepper, region: home.region } : undefined;
}

/**
 * The typed-array backend: fused two-pass kernels, no allocation per step. Params of a
 * `ParamBuffer` run its WebAssembly SIMD kernel, all tensors of a step in one call per phase.
 */
export const cpuBackend: StableAdamWBackendV1<CpuParam, CpuGradient, CpuState, number> = {
  specificationVersion: 'v1',
  backendId: 'cpu',
  describeParam: describeCpuParam,
  getGrad: (param) => param.grad,
  clearGrad: (param) => {
    param.grad = null;
  },
  checkGrad: checkCpuGrad,

  createState(param: CpuParam, _info: TensorInfo, kahan: boolean): CpuState {
    const home = homeOf(param);
    if (home) return bufferState(home, kahan);
    return { expAvg: like(param.data), expAvgSq: like(param.data), kahanComp: kahan ? like(param.data) : null };
  },

  importState(param: CpuParam, info: TensorInfo, values: TensorStateValues): CpuState {
    const home = homeOf(param);
    if (home) return bufferState(home, values.kahanComp !== null, values);
    const codec = codecOf(param.data, info.dtype);
    return {
      expAvg: fill(param.data, values.expAvg, codec),
      expAvgSq: fill(param.data, values.expAvgSq, codec),
      kahanComp: values.kahanComp ? fill(param.data, values.kahanComp, codec) : null,
    };
  },

  exportState(state: CpuState, info: TensorInfo): TensorStateValues {
    const codec = codecOf(state.expAvg, info.dtype);
    return {
      expAvg: read(state.expAvg, codec),
      expAvgSq: read(state.expAvgSq, codec),
      kahanComp: state.kahanComp ? read(state.kahanComp, codec) : null,
    };
  },

  disposeState: releaseBufferState,

  updateMoments(param, grad, state, s): number {
    const target = wasmTarget(param, grad, state);
    return target ? target.stepper.moments(target.region, s) : updateMomentsJs(param, grad, state, s);
  },

  applyUpdate(param, grad, state, sumSquares, s): void {
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
    const pending = [...batches].map(([stepper, batch]) => stepper.step(batch)).filter((p) => p !== undefined);
    return pending.length > 0 ? Promise.all(pending).then(() => undefined) : undefined;
  },
};
