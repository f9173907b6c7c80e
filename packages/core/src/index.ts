/**
 * `@stable-adamw/core`: StableAdamW (optimi semantics) written once over an adapter contract.
 * Users install an adapter (`@stable-adamw/cpu`, …); adapter authors implement `StableAdamWBackendV1`.
 */
export { createComposedKernel } from './composed-kernel.js';
export {
  type ComposedState,
  type GradientProblem,
  type MaybePromise,
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
export {
  bfloat16ToNumber,
  DTYPES,
  type Dtype,
  float16ToNumber,
  isHalfPrecision,
  numberToBfloat16,
  numberToFloat16,
  roundToDtype,
  ulpOf,
} from './dtype.js';
export {
  GradientMismatchError,
  InvalidHyperparameterError,
  InvalidParamError,
  StableAdamWError,
  type StableAdamWErrorCode,
  StateDictError,
  UnsupportedBackendError,
} from './errors.js';
export { LrScheduler, type LrSchedulerState, type SchedulableOptimizer } from './lr-scheduler.js';
export {
  constantLr,
  cosineDecay,
  type LrSchedule,
  linearDecay,
  linearLr,
  linearWarmup,
  multiply,
  sequence,
  warmupCosine,
} from './lr-schedules.js';
export { StableAdamWOptimizer } from './optimizer.js';
export { type Hyperparameters, resolveOptions, type StableAdamWOptions } from './options.js';
export type { ParamGroup, ParamGroupInput } from './param-groups.js';
export { type ReferenceGroup, ReferenceStableAdamW, type ReferenceTensorState } from './reference.js';
export type { ParamGroupEntry, ParamStateEntry, SerializedNumber, StateDict } from './state-dict.js';
export { clippedLearningRate, debiasBeta, rmsFromSum, weightDecayPerLr } from './step-scalars.js';
export {
  type NamedParam,
  paramGroupsWeightDecay,
  type ShapedParam,
  shapedParamGroupsWeightDecay,
  type WeightDecayGroupOptions,
} from './weight-decay-groups.js';
