/**
 * `@stable-adamw/core/adapter`: what an adapter is built from — the versioned backend contract,
 * `StableAdamWOptimizer` written once over it, the composed-op kernel, step scalars, dtype
 * rounding, the float64 reference and the maybe-async helpers. Users never import it.
 */
export {
  CHECKPOINT_LAYOUTS,
  type CheckpointLayout,
  type CheckpointParams,
  type CheckpointParamValues,
  checkpointToStateDict,
  type LoadCheckpointOptions,
  type LoadedCheckpoint,
  type SaveCheckpointOptions,
  stateDictToCheckpoint,
} from './checkpoint-layouts.js';
export { createComposedKernel } from './composed-kernel.js';
export {
  type ComposedState,
  type GradientCheck,
  type GradientProblem,
  type MomentScalars,
  SPECIFICATION_VERSION,
  type StableAdamWBackendV1,
  type StableAdamWKernelV1,
  type TensorInfo,
  type TensorOpsV1,
  type TensorStateValues,
  type TensorStep,
  type UpdateScalars,
} from './contract.js';
export { isHalfPrecision, roundToDtype, ulpOf } from './dtype.js';
export { andThen, keepPending, settle } from './maybe-promise.js';
export { type CounterValues, StableAdamWOptimizer } from './optimizer.js';
export { resolveOptions } from './options.js';
export { buildParamGroups } from './param-groups.js';
export { checkedShape } from './param-shape.js';
export { type ReferenceGroup, ReferenceStableAdamW, type ReferenceTensorState } from './reference.js';
export {
  readSafetensors,
  type SafetensorsData,
  type SafetensorsDtype,
  type SafetensorsFile,
  type SafetensorsTensor,
  writeSafetensors,
} from './safetensors.js';
export { clippedLearningRate, debiasBeta, momentScalars, rmsFromSum, weightDecayPerLr } from './step-scalars.js';
export {
  type NamedParam,
  paramGroupsWeightDecay,
  type ShapedParam,
  shapedParamGroupsWeightDecay,
} from './weight-decay-groups.js';
