/**
 * `@stable-adamw/tfjs`: StableAdamW (optimi semantics) as a `tf.Optimizer` for every TensorFlow.js
 * backend, with fused WebGL kernels and composed-op kernels elsewhere.
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
  UnsupportedBackendError,
  type WeightDecayGroupOptions,
  warmupCosine,
} from '@stable-adamw/core';
export { type KernelChoice, resolveKernel } from './backend.js';
export { type GradientRelease, prepareForGradientRelease, removeGradientRelease } from './gradient-release.js';
export { blockedSum } from './kernels/tensor-ops.js';
export { type NamedTensor, StableAdamW, stableAdamW, type TfjsStableAdamWOptions } from './stable-adamw.js';
export type { TfjsState } from './state.js';
export type { LayersModelLike, LayerVariableLike, VariablesTarget } from './targets.js';
export { paramGroupsWeightDecay } from './weight-decay-groups.js';
