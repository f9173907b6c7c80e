import { InvalidParamError } from '@stable-adamw/core';
import type { TensorStateValues } from '@stable-adamw/core/adapter';
import type { BufferDtype } from './buffer-layout.js';
import { storageEncoder } from './kernels/half-codecs.js';
import type { TensorRegion, WasmStepper } from './kernels/wasm/wasm-stepper.js';
import type { CpuGradient, CpuParam } from './param.js';
import type { CpuState } from './state.js';

// The registry of `ParamBuffer` params: where each one lives (its memory region, the buffer's
// kernel) and which optimizer state currently occupies its state region (one optimizer per buffer).

/** A gradient or state view into a buffer's memory. */
export type BufferView = Float32Array | Uint16Array;

/** What the registry reads of a `ParamBuffer`. */
export interface BufferMemory {
  readonly dtype: BufferDtype;
  readonly memory: WebAssembly.Memory;
  readonly disposed: boolean;
}

/** A buffer param's place in the memory and the optimizer state currently living there. */
export interface BufferPlacement {
  readonly buffer: BufferMemory;
  readonly region: TensorRegion;
  /** The param's own data view (the kernels step this memory, whatever `param.data` holds). */
  readonly data: BufferView;
  /** The param's own gradient view. */
  readonly grad: BufferView;
  readonly stepper: WasmStepper | undefined;
  readonly label: string;
  owner: CpuState | undefined;
}

const placements = new WeakMap<CpuParam, BufferPlacement>();
const statePlacements = new WeakMap<CpuState, BufferPlacement>();

/** Records where a new buffer param lives. */
export function registerBufferParam(param: CpuParam, placement: BufferPlacement): void {
  placements.set(param, placement);
}

/** Where a param lives when it belongs to a `ParamBuffer`. */
export function placementOf(param: CpuParam): BufferPlacement | undefined {
  return placements.get(param);
}

/** Refuses a `ParamBuffer` param whose `data` was replaced: the optimizer steps the buffer's memory. */
export function checkBufferData(param: CpuParam, label: string): void {
  const placement = placements.get(param);
  if (placement && param.data !== placement.data) {
    throw new InvalidParamError(
      label,
      'lives in a ParamBuffer, but its data was replaced by another array',
      "Write into the buffer's view instead (param.data.set(values)): that memory is what the optimizer steps.",
    );
  }
}

/** Frees a buffer param's state region for the next optimizer, unless a newer state took it. */
export function releaseBufferState(state: CpuState): void {
  const placement = statePlacements.get(state);
  if (placement?.owner === state) placement.owner = undefined;
}

/**
 * Why a buffer param cannot be stepped with `state` now (disposed buffer, state replaced by another
 * optimizer, a threaded step still running), as an error; undefined when it can.
 */
export function bufferStepProblem(placement: BufferPlacement, state: CpuState): InvalidParamError | undefined {
  if (placement.buffer.disposed) {
    return new InvalidParamError(
      placement.label,
      'lives in a disposed ParamBuffer',
      'Create a new buffer with createParamBuffer.',
    );
  }
  if (placement.owner !== state) {
    return new InvalidParamError(
      placement.label,
      "has optimizer state that another optimizer's loadStateDict replaced",
      'Use one optimizer per ParamBuffer.',
    );
  }
  if (placement.stepper?.busy) {
    return new InvalidParamError(
      placement.label,
      'is still being stepped by worker threads',
      'Await optimizer.step() before stepping again.',
    );
  }
  return undefined;
}

/**
 * Refuses `method` while worker threads are stepping one of `params` (the error a second `step()`
 * gets): state, params and the buffer's tables are in use until that step's Promise settles.
 */
export function checkNotBusy(params: Iterable<CpuParam>, method: string): void {
  for (const param of params) {
    const placement = placements.get(param);
    if (placement?.stepper?.busy) {
      throw new InvalidParamError(
        placement.label,
        'is still being stepped by worker threads',
        `Await optimizer.step() before calling ${method}.`,
      );
    }
  }
}

/** True when `grad` is the param's own gradient view in the buffer (what the WebAssembly kernel reads). */
export function isBufferGrad(placement: BufferPlacement, grad: CpuGradient): boolean {
  const { buffer, region } = placement;
  const Ctor = buffer.dtype === 'float32' ? Float32Array : Uint16Array;
  return (
    grad instanceof Ctor &&
    grad.buffer === buffer.memory.buffer &&
    grad.byteOffset === region.grad &&
    grad.length === region.numel
  );
}

/**
 * State views of a buffer param, zeroed, or filled from `values` (a state dict being loaded, which
 * replaces the current state); the param's placement now owns them.
 */
export function bufferState(placement: BufferPlacement, kahan: boolean, values?: TensorStateValues): CpuState {
  if (!values && placement.owner) {
    throw new InvalidParamError(
      placement.label,
      'already holds the optimizer state of another optimizer',
      'Use one optimizer per ParamBuffer, or dispose() the other optimizer first.',
    );
  }
  const { buffer, region } = placement;
  const Ctor = buffer.dtype === 'float32' ? Float32Array : Uint16Array;
  const view = (offset: number) => new Ctor(buffer.memory.buffer, offset, region.numel);
  const encode = storageEncoder(buffer.dtype);
  const fill = (target: BufferView, source: ArrayLike<number> | null | undefined) => {
    if (!source) target.fill(0);
    else for (let i = 0; i < target.length; i++) target[i] = encode ? encode(source[i] as number) : (source[i] as number);
    return target;
  };
  const state: CpuState = {
    expAvg: fill(view(region.expAvg), values?.expAvg),
    expAvgSq: fill(view(region.expAvgSq), values?.expAvgSq),
    kahanComp: kahan && region.kahan ? fill(view(region.kahan), values?.kahanComp) : null,
  };
  placement.owner = state;
  statePlacements.set(state, placement);
  return state;
}
