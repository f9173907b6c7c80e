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

// Plain loops and set(): TypedArray.from with a map function takes V8's slow generic path.
function filled(data: CpuArray, values: ArrayLike<number>, codec: HalfCodec | undefined): CpuArray {
  const out = like(data);
  if (!codec) {
    (out as Float32Array).set(values);
    return out;
  }
  for (let i = 0; i < values.length; i++) out[i] = codec.encode(values[i] as number);
  return out;
}

function decoded(data: CpuArray, codec: HalfCodec | undefined): Float64Array {
  const out = new Float64Array(data.length);
  if (!codec) {
    out.set(data as ArrayLike<number>);
    return out;
  }
  for (let i = 0; i < data.length; i++) out[i] = codec.decode(data[i] as number);
  return out;
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
