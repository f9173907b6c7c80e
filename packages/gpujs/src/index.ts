/**
 * `@stable-adamw/gpujs`: StableAdamW (optimi semantics) on gpu.js — WebGL, WebGL2, WebGPU,
 * headlessgl, webasm and cpu — with params, gradients and state resident on the device.
 */
export {
  constantLr,
  cosineDecay,
  GradientMismatchError,
  InvalidHyperparameterError,
  InvalidParamError,
  type LrSchedule,
  LrScheduler,
  linearDecay,
  linearWarmup,
  multiply,
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
export type { GpuJsState, GpuJsStats, GpuJsSum } from './backend.js';
export { type GpuJsMode, REDUCTION_BLOCK } from './device.js';
export type { GpuJsParam } from './param.js';
export { type GpuJsStableAdamWOptions, StableAdamW } from './stable-adamw.js';
export { type GpuJsTensor, isDeviceTensor } from './tensor.js';
