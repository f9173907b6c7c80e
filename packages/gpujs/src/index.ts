/**
 * `@stable-adamw/gpujs`: StableAdamW (optimi semantics) on gpu.js — WebGL, WebGL2, WebGPU,
 * headlessgl, webasm and cpu — with params, gradients and state resident on the device.
 */
export type { GpuJsState, GpuJsStats, GpuJsSum } from './backend.js';
export { type GpuJsMode, REDUCTION_BLOCK } from './device.js';
export type { GpuJsParam } from './param.js';
export { type GpuJsStableAdamWOptions, StableAdamW } from './stable-adamw.js';
export { type GpuJsTensor, isDeviceTensor } from './tensor.js';
