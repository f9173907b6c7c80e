import { InvalidParamError, numberToBfloat16, numberToFloat16, type TensorStateValues } from '@stable-adamw/core';
import type { CpuState } from './backend.js';
import type { CpuGradient, CpuParam } from './param.js';
import type { BufferDtype, ParamBuffer } from './param-buffer.js';
import type { TensorRegion, WasmStepper } from './wasm/wasm-stepper.js';

// Where each `ParamBuffer` param lives: its memory region, the buffer's kernel, and which optimizer
// state currently occupies its state region (one optimizer per buffer).

export type View = Float32Array | Uint16Array;

/** A buffer param's place in the memory and the optimizer state currently living there. */
export interface Home {
  readonly buffer: ParamBuffer;
  readonly region: TensorRegion;
  /** The param's own gradient view. */
  readonly grad: View;
  readonly stepper: WasmStepper | undefined;
  readonly label: string;
  owner: CpuState | undefined;
}

const homes = new WeakMap<CpuParam, Home>();
const stateHomes = new WeakMap<CpuState, Home>();

/** Records where a new buffer param lives. */
export function registerHome(param: CpuParam, home: Home): void {
  homes.set(param, home);
}

/** Where a param lives when it belongs to a `ParamBuffer`. */
export function homeOf(param: CpuParam): Home | undefined {
  return homes.get(param);
}

/** Rounds numbers to a buffer's storage (bit patterns for 16-bit); undefined for float32. */
export function storageEncoder(dtype: BufferDtype): ((x: number) => number) | undefined {
  if (dtype === 'bfloat16') return numberToBfloat16;
  return dtype === 'float16' ? numberToFloat16 : undefined;
}

/** Frees a buffer param's state slot for the next optimizer, unless a newer state took it. */
export function releaseBufferState(state: CpuState): void {
  const home = stateHomes.get(state);
  if (home?.owner === state) home.owner = undefined;
}

/**
 * Why a buffer param cannot be stepped with `state` now (disposed buffer, state replaced by another
 * optimizer, a threaded step still running), as an error; undefined when it can.
 */
export function bufferStepProblem(home: Home, state: CpuState): InvalidParamError | undefined {
  if (home.buffer.disposed) {
    return new InvalidParamError(home.label, 'lives in a disposed ParamBuffer', 'Create a new buffer with createParamBuffer.');
  }
  if (home.owner !== state) {
    return new InvalidParamError(
      home.label,
      "has optimizer state that another optimizer's loadStateDict replaced",
      'Use one optimizer per ParamBuffer.',
    );
  }
  if (home.stepper?.busy) {
    return new InvalidParamError(
      home.label,
      'is still being stepped by worker threads',
      'Await optimizer.step() before stepping again.',
    );
  }
  return undefined;
}

/** True when `grad` is the param's own gradient view in the buffer (what the WebAssembly kernel reads). */
export function isBufferGrad(home: Home, grad: CpuGradient): boolean {
  const Ctor = home.buffer.dtype === 'float32' ? Float32Array : Uint16Array;
  return (
    grad instanceof Ctor &&
    grad.buffer === home.buffer.memory.buffer &&
    grad.byteOffset === home.region.grad &&
    grad.length === home.region.numel
  );
}

/**
 * State views of a buffer param, zeroed, or filled from `values` (a state dict being loaded, which
 * replaces the current state); the param's home now owns them.
 */
export function bufferState(home: Home, kahan: boolean, values?: TensorStateValues): CpuState {
  if (!values && home.owner) {
    throw new InvalidParamError(
      home.label,
      'already holds the optimizer state of another optimizer',
      'Use one optimizer per ParamBuffer, or dispose() the other optimizer first.',
    );
  }
  const { buffer, region } = home;
  const Ctor = buffer.dtype === 'float32' ? Float32Array : Uint16Array;
  const view = (offset: number) => new Ctor(buffer.memory.buffer, offset, region.numel);
  const encode = storageEncoder(buffer.dtype);
  const fill = (target: View, source: ArrayLike<number> | null | undefined) => {
    if (!source) target.fill(0);
    else for (let i = 0; i < target.length; i++) target[i] = encode ? encode(source[i] as number) : (source[i] as number);
    return target;
  };
  const state: CpuState = {
    expAvg: fill(view(region.expAvg), values?.expAvg),
    expAvgSq: fill(view(region.expAvgSq), values?.expAvgSq),
    kahanComp: kahan && region.kahan ? fill(view(region.kahan), values?.kahanComp) : null,
  };
  home.owner = state;
  stateHomes.set(state, home);
  return state;
}
