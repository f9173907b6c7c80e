/**
 * `@stable-adamw/tfjs`: StableAdamW (optimi semantics) as a `tf.Optimizer` for every TensorFlow.js
 * backend, with fused WebGL/WebGPU kernels and composed-op kernels elsewhere.
 */
export * from '@stable-adamw/core';
export { createTfjsBackend } from './backend.js';
export { type GradientRelease, prepareForGradientRelease, removeGradientRelease } from './gradient-release.js';
export type { KernelChoice } from './kernels/resolve-kernel.js';
export { type NamedTensor, StableAdamW, stableAdamW, type TfjsStableAdamWOptions } from './stable-adamw.js';
export type { TfjsState } from './state.js';
export type { LayersModelLike, LayerVariableLike, VariablesTarget } from './targets.js';
export { VERSION } from './version.js';
export { paramGroupsWeightDecay } from './weight-decay-groups.js';
