/**
 * `@stable-adamw/cpu`: StableAdamW over typed arrays (Float32Array, Float64Array, bfloat16/float16
 * bit patterns in Uint16Array, native Float16Array), in Node and browsers.
 */
export {
  bfloat16ToNumber,
  constantLr,
  cosineDecay,
  type Dtype,
  float16ToNumber,
  GradientMismatchError,
  InvalidHyperparameterError,
  InvalidParamError,
  type LrSchedule,
  LrScheduler,
  linearDecay,
  linearWarmup,
  multiply,
  numberToBfloat16,
  numberToFloat16,
  type ParamGroup,
  type ParamGroupInput,
  StableAdamWError,
  type StableAdamWOptions,
  type StateDict,
  StateDictError,
  sequence,
  shapedParamGroupsWeightDecay as paramGroupsWeightDecay,
  UnsupportedBackendError,
  type WeightDecayGroupOptions,
  warmupCosine,
} from '@stable-adamw/core';
export { type CpuState, cpuBackend } from './backend.js';
export type { CpuArray, CpuGradient, CpuParam, Float16ArrayLike } from './param.js';
export {
  type BufferDtype,
  type BufferParam,
  createParamBuffer,
  type ParamBuffer,
  type ParamBufferOptions,
  type ParamSpec,
} from './param-buffer.js';
export { StableAdamW } from './stable-adamw.js';
export { BLOCK_ELEMENTS } from './wasm/layout.js';
