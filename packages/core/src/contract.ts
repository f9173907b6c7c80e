/**
 * The contract between `@stable-adamw/core` and a backend adapter (version `v1`).
 *
 * Core owns everything scalar: validation, param groups, step counters, debiased betas, the weight
 * decay coefficient, state dicts. A backend owns tensors: it describes params, checks the
 * gradients it is handed, holds per-tensor state and runs the per-tensor kernel in two phases:
 *
 * 1. `updateMoments` — m ← lerp(m, g, 1−β̂1); v ← β̂2·v + (1−β̂2)·g²; and, unless this is an
 *    accumulation-only call, returns the partial sum Σ g²/max(v, ε²) as a backend scalar `R`
 *    (a number on CPU, a device tensor on GPU backends, so nothing is read back).
 * 2. `applyUpdate` — given the summed squares of the whole tensor and its element count:
 *    RMS = √(sum/n); η = lr / max(1, RMS) (NaN RMS → no clip); θ ← θ·(1 − η·decayPerLr);
 *    θ ← θ − η·m/(√v + ε), Kahan-compensated for 16-bit params when asked.
 *
 * Before phase 1, core may ask `findNonFinite` which gradients hold NaN or ±Inf (the `nonFinite`
 * policies 'skip' and 'throw'), and a loss scaler's unscale is folded into phase 1 (`gradScale`).
 *
 * The split lets per-parameter steps (gradient release), accumulation-only moment updates and
 * sharded tensors (sum the partial results of phase 1 across shards, then run phase 2 on each
 * shard with the total) reuse the same kernels.
 */
import type { Dtype } from './dtype.js';

export type MaybePromise<T> = T | Promise<T>;

export const SPECIFICATION_VERSION = 'v1';

/** What core needs to know about a parameter tensor. */
export interface TensorInfo {
  readonly numel: number;
  readonly dtype: Dtype;
  readonly shape: readonly number[];
  /** A user-facing name used in error messages and by `paramGroupsWeightDecay`. */
  readonly name?: string;
}

/** Scalars of phase 1, all float64. */
export interface MomentScalars {
  /** Debiased β̂1 of this step; the lerp weight is 1 − β̂1. */
  readonly beta1Hat: number;
  /** Debiased β̂2 of this step. */
  readonly beta2Hat: number;
  /** The ε² floor of v in the RMS: fp32 for every dtype but float64 (optimi's fp16 ε² underflows to 0). */
  readonly epsSq: number;
  /** False on accumulation-only calls: update the moments, skip the reduction (return value ignored). */
  readonly reduce: boolean;
  /**
   * Every gradient value is multiplied by this before use, in moments and RMS alike: 1 / the loss
   * scale (a power of two with the default scaler, so exact), or 1. Only backends declaring
   * `supportsGradScale` are handed a value other than 1.
   */
  readonly gradScale: number;
}

/** Scalars of phase 2, all float64. */
export interface UpdateScalars {
  /** The group's current (unclipped) learning rate. */
  readonly lr: number;
  /** Element count of the whole tensor: RMS = √(sumSquares / numel). */
  readonly numel: number;
  readonly eps: number;
  /** θ ← θ·(1 − η·weightDecayPerLr): λ, or λ/maxLr for fully decoupled decay; 0 for none. */
  readonly weightDecayPerLr: number;
  /** Apply the update through the Kahan compensation buffer (16-bit params only). */
  readonly kahan: boolean;
}

/** The two-phase per-tensor kernel. `R` is the backend's scalar (partial sum) type. */
export interface StableAdamWKernelV1<P, G, S, R> {
  updateMoments(param: P, grad: G, state: S, scalars: MomentScalars): R;
  applyUpdate(param: P, grad: G, state: S, sumSquares: R, scalars: UpdateScalars): MaybePromise<void>;
}

/** One tensor of a batched step (`stepTensors`): everything the two phases need. */
export interface TensorStep<P, G, S> {
  readonly param: P;
  readonly grad: G;
  readonly state: S;
  readonly info: TensorInfo;
  /** Phase-1 scalars; `reduce` is always true in a batched step. */
  readonly moments: MomentScalars;
  readonly update: UpdateScalars;
}

/** Optimizer state of one tensor as plain float64 values (used by state dicts). */
export interface TensorStateValues {
  readonly expAvg: ArrayLike<number>;
  readonly expAvgSq: ArrayLike<number>;
  readonly kahanComp: ArrayLike<number> | null;
}

/** One gradient for `findNonFinite`, with its param. */
export interface GradientCheck<P, G> {
  readonly param: P;
  readonly grad: G;
  readonly info: TensorInfo;
}

/** A problem found with a gradient, worded for `GradientMismatchError`. */
export interface GradientProblem {
  readonly problem: string;
  readonly fix: string;
}

/** Everything an adapter implements for `StableAdamWOptimizer`. */
export interface StableAdamWBackendV1<P, G, S, R> extends StableAdamWKernelV1<P, G, S, R> {
  readonly specificationVersion: 'v1';
  /** Identifies the backend in reports, e.g. `cpu`, `tfjs-webgl`. */
  readonly backendId: string;
  /**
   * Describes a param, or throws `InvalidParamError` naming `where`. Called at construction and
   * again before every step and `loadStateDict` (a param whose data was replaced is caught before
   * anything is written), so it must be cheap and must not mutate.
   */
  describeParam(param: P, where: string): TensorInfo;
  /**
   * True when the kernels honour `MomentScalars.gradScale` (needed for a `lossScaler`). Absent:
   * core refuses a loss scaler on this backend.
   */
  readonly supportsGradScale?: boolean;
  /**
   * Returns the indices of `items` whose gradient holds NaN or ±Inf, without mutating anything.
   * Core calls it before phase 1 of a step whose groups use `nonFinite: 'skip' | 'throw'`, and
   * decides from the answer whether the step runs. A GPU backend may answer asynchronously (one
   * scalar readback per step). Absent: core refuses those policies on this backend.
   */
  findNonFinite?(items: readonly GradientCheck<P, G>[]): MaybePromise<readonly number[]>;
  /**
   * True when the step about to run decides `nonFinite: 'skip'` on the device, in
   * `stepTensorsOnDevice`, with nothing read back (a GPU backend without synchronous readback).
   * Core asks only when a group is 'skip' and the backend has `stepTensorsOnDevice`. Absent or
   * false: core decides (`findNonFinite`).
   */
  skipsOnDevice?(): boolean;
  /**
   * `stepTensors` for a step whose device decides 'skip' (`skipsOnDevice`): the device finds any
   * NaN or ±Inf among the gradients of 'skip' groups and then changes nothing, or runs the step.
   * Core asks `findNonFinite` only about 'throw' groups first, calls this for every step (even one
   * without gradients: the device counts it) and moves no counter itself: the device keeps the
   * group steps, `skippedSteps`, `lastStepSkipped` and the loss scaler's state, and the adapter
   * writes them back with the optimizer's `reconcileCounters` once it has read them
   * asynchronously. The `MomentScalars` handed in are those of a clean step at the host's
   * counters; the backend uses the debiased betas of the device's step instead. Throws (or
   * rejects) before changing anything, as `stepTensors` does.
   */
  stepTensorsOnDevice?(items: readonly TensorStep<P, G, S>[]): MaybePromise<void>;
  /**
   * Gradient release's `stepParam` in an optimizer with a 'skip' group whose device decides
   * (`skipsParamOnDevice`; a 'throw' group's gradient is checked by `findNonFinite` first): in a
   * 'skip' group the device finds any NaN or ±Inf in `item.grad` and then changes nothing;
   * otherwise it runs phase 1 and, when `item.moments.reduce` (not an accumulation-only call),
   * phase 2 on the param. Core moves
   * no counter itself (the param's step, `skippedSteps`, `lastStepSkipped`, the "skipped since
   * the last step()" flag): the adapter writes the device's back with `reconcileCounters`
   * (`paramSteps`, `skippedSinceStep`). The `MomentScalars` handed in are those of a clean call at
   * the host's per-param counter; the backend uses the debiased betas of the device's. Core clears
   * the gradient afterwards. Throws (or rejects) before changing anything.
   */
  stepParamOnDevice?(item: TensorStep<P, G, S>): MaybePromise<void>;
  /**
   * True when a `stepParam` about to run (in an optimizer with a 'skip' group) is decided on the
   * device (`stepParamOnDevice`). Absent or false: core decides (`findNonFinite`).
   */
  skipsParamOnDevice?(): boolean;
  /**
   * For params that carry their own gradient (a `.grad` field): the gradient `step()` uses when it
   * is called without a gradient map; `null`/`undefined` skips the param this step. Backends whose
   * gradients live outside the params (tfjs) leave it out and are always handed a map.
   */
  getGrad?(param: P): G | null | undefined;
  /** Drops the param's gradient (`zeroGrad`, and after `stepParam`); absent when params hold none. */
  clearGrad?(param: P): void;
  /** Zeroes the param's gradient in place, if it has one (`zeroGrad({ setToNone: false })`). */
  zeroGradInPlace?(param: P): void;
  /** Returns why `grad` cannot be used for a param described by `info`, or undefined. Must not mutate. */
  checkGrad(param: P, grad: G, info: TensorInfo): GradientProblem | undefined;
  /** Allocates zeroed state (with a zeroed Kahan buffer when `kahan`). */
  createState(param: P, info: TensorInfo, kahan: boolean): S;
  /** Builds state from validated values (lengths already checked against `info.numel`). */
  importState(param: P, info: TensorInfo, values: TensorStateValues): S;
  /** Reads state back as plain values; the only place a GPU backend reads state. */
  exportState(state: S, info: TensorInfo): MaybePromise<TensorStateValues>;
  /** Frees device memory held by a state. */
  disposeState?(state: S): void;
  /**
   * Optional batched step: both phases for every tensor of a `step()` at once, so a backend can
   * run one kernel call per phase over many tensors (multi-tensor apply). Each tensor's result
   * must equal `updateMoments` then `applyUpdate` with the tensor's own total. Called after all
   * validation; if it throws, it must throw before changing anything, and core then undoes the
   * step's counters and newly created state. Without it core steps tensor by tensor.
   */
  stepTensors?(items: readonly TensorStep<P, G, S>[]): MaybePromise<void>;
}

/**
 * Elementwise tensor operations a backend without fused kernels provides; `createComposedKernel`
 * builds both phases from them. Binary ops broadcast 0-d tensors made by `scalar`.
 */
export interface TensorOpsV1<T> {
  /** A 0-d tensor holding `value` in the compute precision. */
  scalar(value: number): T;
  add(a: T, b: T): T;
  sub(a: T, b: T): T;
  mul(a: T, b: T): T;
  div(a: T, b: T): T;
  sqrt(a: T): T;
  /** Elementwise maximum, propagating NaN. */
  maximum(a: T, b: T): T;
  /** `a > b ? a : b` elementwise — false for NaN, so NaN selects `b` (optimi's `max(1, NaN) = 1`). */
  selectGreater(a: T, b: T): T;
  /** 0-d sum of all elements; accumulate in at least float32 with care (e.g. pairwise). */
  sum(a: T): T;
  /** Overwrites a param or state tensor with `value` (same shape). */
  assign(target: T, value: T): void;
  /** Runs `fn`, freeing every intermediate it created except the tensor it returns. */
  tidy<X extends T | undefined>(fn: () => X): X;
  /** Frees a tensor returned from `tidy` once it is no longer needed. */
  dispose(tensor: T): void;
}

/** State of one tensor in the composed kernel. */
export interface ComposedState<T> {
  readonly expAvg: T;
  readonly expAvgSq: T;
  readonly kahanComp: T | null;
}
