/**
 * `@stable-adamw/gpujs`: StableAdamW (optimi semantics) on gpu.js — WebGL, WebGL2, WebGPU,
 * headlessgl, webasm and cpu — with params, gradients and state resident on the device.
 */
export * from '@stable-adamw/core';
export { shapedParamGroupsWeightDecay as paramGroupsWeightDecay } from '@stable-adamw/core/adapter';
export {
  createGpujsBackend,
  type GpuJsBackend,
  type GpuJsBackendOptions,
  type GpuJsKernelPath,
  type GpuJsStats,
} from './backend.js';
export type { GpuJsMode } from './device.js';
export type { GpuJsParam } from './param.js';
export { type GpuJsStableAdamWOptions, StableAdamW } from './stable-adamw.js';
export type { GpuJsState } from './state.js';
export { type GpuJsTensor, isDeviceTensor } from './tensor.js';
export { VERSION } from './version.js';
