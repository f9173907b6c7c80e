/**
 * `@stable-adamw/core`: what a user of any adapter touches — options, param groups, schedules and
 * the scheduler, the dynamic loss scaler, typed errors, state-dict types and 16-bit codecs. Every
 * adapter re-exports this entry unchanged. Adapter authors import `@stable-adamw/core/adapter` as well.
 */
export type { CheckpointLayout } from './checkpoint-layouts.js';
export type { MaybePromise } from './contract.js';
export {
  bfloat16ToNumber,
  DTYPES,
  type Dtype,
  float16ToNumber,
  numberToBfloat16,
  numberToFloat16,
} from './dtype.js';
export {
  DeviceError,
  GradientMismatchError,
  InvalidHyperparameterError,
  InvalidParamError,
  NonFiniteGradientError,
  OptimizerDisposedError,
  StableAdamWError,
  type StableAdamWErrorCode,
  StateDictError,
  UnsupportedBackendError,
} from './errors.js';
export { DynamicLossScaler, type DynamicLossScalerOptions, type LossScalerState } from './loss-scaler.js';
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
export type { Hyperparameters, NonFinitePolicy, StableAdamWOptions } from './options.js';
export type { ParamGroup, ParamGroupInput } from './param-groups.js';
export type { ParamGroupEntry, ParamStateEntry, SerializedNumber, StateDict } from './state-dict.js';
export type { WeightDecayGroupOptions, WeightDecayNaming } from './weight-decay-groups.js';
export type { ZeroGradOptions } from './zero-grad.js';
