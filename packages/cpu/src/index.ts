/**
 * `@stable-adamw/cpu`: StableAdamW over typed arrays (Float32Array, Float64Array, bfloat16/float16
 * bit patterns in Uint16Array, native Float16Array), in Node and browsers.
 */
export * from '@stable-adamw/core';
// optimi's param_groups_weight_decay for params that carry their own `name` and `shape`.
export { shapedParamGroupsWeightDecay as paramGroupsWeightDecay } from '@stable-adamw/core/adapter';
export { createCpuBackend } from './backend.js';
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
export type { CpuState } from './state.js';
export { VERSION } from './version.js';
