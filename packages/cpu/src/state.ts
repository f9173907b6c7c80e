import type { TensorInfo, TensorStateValues } from '@stable-adamw/core/adapter';
import { codecOf, type HalfCodec } from './kernels/half-codecs.js';
import type { CpuArray, CpuParam } from './param.js';

/**
 * Per-tensor optimizer state of the cpu adapter: arrays of the param's own storage type (16-bit
 * params hold bit patterns, like their data). For a `ParamBuffer` param they are views into the
 * buffer's memory.
 */
export interface CpuState {
  expAvg: CpuArray;
  expAvgSq: CpuArray;
  kahanComp: CpuArray | null;
}

function like(data: CpuArray): CpuArray {
  const Ctor = data.constructor as new (length: number) => CpuArray;
  return new Ctor(data.length);
}

function filled(data: CpuArray, values: ArrayLike<number>, codec: HalfCodec | undefined): CpuArray {
  const out = like(data);
  for (let i = 0; i < values.length; i++) out[i] = codec ? codec.encode(values[i] as number) : (values[i] as number);
  return out;
}

function decoded(data: CpuArray, codec: HalfCodec | undefined): Float64Array {
  return Float64Array.from(data as ArrayLike<number>, (x) => (codec ? codec.decode(x) : x));
}

/** Zeroed state arrays of the param's storage type (with a Kahan buffer when `kahan`). */
export function createCpuState(param: CpuParam, kahan: boolean): CpuState {
  return { expAvg: like(param.data), expAvgSq: like(param.data), kahanComp: kahan ? like(param.data) : null };
}

/** State arrays of the param's storage type holding `values`, rounded to it. */
export function importCpuState(param: CpuParam, info: TensorInfo, values: TensorStateValues): CpuState {
  const codec = codecOf(param.data, info.dtype);
  return {
    expAvg: filled(param.data, values.expAvg, codec),
    expAvgSq: filled(param.data, values.expAvgSq, codec),
    kahanComp: values.kahanComp ? filled(param.data, values.kahanComp, codec) : null,
  };
}

/** The state's values as float64 (16-bit bit patterns decoded). */
export function exportCpuState(state: CpuState, info: TensorInfo): TensorStateValues {
  const codec = codecOf(state.expAvg, info.dtype);
  return {
    expAvg: decoded(state.expAvg, codec),
    expAvgSq: decoded(state.expAvgSq, codec),
    kahanComp: state.kahanComp ? decoded(state.kahanComp, codec) : null,
  };
}
