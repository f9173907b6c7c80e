/**
 * `@stable-adamw/cpu`: StableAdamW over typed arrays (Float32Array, Float64Array, bfloat16/float16
 * bit patterns in Uint16Array, native Float16Array), in Node and browsers.
 */
export {
  bfloat16ToNumber,
  type Dtype,
  float16ToNumber,
  GradientMismatchError,
  InvalidHyperparameterError,
  InvalidParamError,
  numberToBfloat16,
  numberToFloat16,
  type ParamGroup,
  type ParamGroupInput,
  StableAdamWError,
  type StableAdamWOptions,
  type StateDict,
  StateDictError,
} from '@stable-adamw/core';
export { type CpuState, cpuBackend } from './backend.js';
export type { CpuArray, CpuGradient, CpuParam, Float16ArrayLike } from './param.js';
export { StableAdamW } from './stable-adamw.js';
