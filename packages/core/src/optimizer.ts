import { type CheckpointLayout, checkpointToStateDict, stateDictToCheckpoint } from './checkpoint-layouts.js';
import {
  type GradientCheck,
  type MaybePromise,
  SPECIFICATION_VERSION,
  type StableAdamWBackendV1,
  type TensorInfo,
  type TensorStateValues,
  type TensorStep,
  type UpdateScalars,
} from './contract.js';
import { isHalfPrecision } from './dtype.js';
import {
  GradientMismatchError,
  InvalidParamError,
  NonFiniteGradientError,
  OptimizerDisposedError,
  StateDictError,
  UnsupportedBackendError,
} from './errors.js';
import { type DynamicLossScaler, parseLossScalerState } from './loss-scaler.js';
import { andThen, settle } from './maybe-promise.js';
import { type Hyperparameters, requireSkipWithScaler, resolveOptions, type StableAdamWOptions } from './options.js';
import { buildParamGroups, decoupledDecayWarning, type ParamGroup, type ParamGroupInput, validateGroup } from './param-groups.js';
import { groupEntry, type ParamStateEntry, parseStateDict, type StateDict, serializeValues } from './state-dict.js';
import { momentScalars, weightDecayPerLr } from './step-scalars.js';
import { type ZeroGradOptions, zeroGradSetToNone } from './zero-grad.js';

interface ParamSlot<S> {
  state: S;
  /** Whether the state holds a Kahan compensation buffer. */
  kahan: boolean;
  /** Per-parameter step counter, used under gradient release. */
  step: number;
}

interface ParamEntry {
  info: TensorInfo;
  /** Index of the param's group: groups are looked up live, so scheduled hyperparameters apply. */
  group: number;
  /** Flat index across groups (the state dict key). */
  index: number;
  /** Where the param sits in the groups, e.g. `paramGroups[0].params[1]` (passed to `describeParam`). */
  where: string;
  /** How error messages name the param. */
  label: string;
}

/**
 * The counters of an optimizer whose device keeps them (`skipsOnDevice`): what `readCounters`
 * returns and `reconcileCounters` sets.
 */
export interface CounterValues {
  /** Each group's step, in `paramGroups` order. */
  readonly groupSteps: readonly number[];
  readonly skippedSteps: number;
  readonly lastStepSkipped: boolean;
  /** The loss scaler's scale and growth tracker; present exactly when the optimizer has a `lossScaler`. */
  readonly lossScaler?: { readonly scale: number; readonly growthTracker: number };
  /**
   * Gradient release: each param's own step (0 for a param without state), by flat index (the
   * state dict's key). `readCounters` includes it exactly when `gradientRelease` is on;
   * `reconcileCounters` leaves the params' steps alone when it is absent.
   */
  readonly paramSteps?: readonly number[];
  /** Gradient release: a `stepParam` call was skipped since the last `step()` (absent: unchanged). */
  readonly skippedSinceStep?: boolean;
}

/** A param with a gradient in the call being made, and its group's index. */
interface GradItem<P, G> {
  param: P;
  grad: G;
  g: number;
}

/**
 * StableAdamW over any backend implementing the v1 contract. Adapters subclass it with their
 * concrete param, gradient and state types.
 */
export class StableAdamWOptimizer<P, G, S, R> {
  /** Live param groups: a scheduler may set `lr` (or other hyperparameters) between steps. */
  readonly paramGroups: ParamGroup<P>[];
  /** The constructor options with optimi's defaults filled in. */
  readonly defaults: Readonly<Hyperparameters>;
  /**
   * Optimizer accumulation (gradient release only): while true, `stepParam` updates the moments
   * and the per-parameter counter but leaves the parameter alone.
   */
  accumulate = false;

  protected readonly backend: StableAdamWBackendV1<P, G, S, R>;
  readonly #params = new Map<P, ParamEntry>();
  #slots = new Map<P, ParamSlot<S>>();
  readonly #lossScaler: DynamicLossScaler | undefined;
  #skippedSteps = 0;
  #lastStepSkipped = false;
  /** Gradient release: a `stepParam` call was skipped since the last `step()` (which tells the scaler). */
  #skippedSinceStep = false;
  #disposed = false;

  constructor(
    backend: StableAdamWBackendV1<P, G, S, R>,
    params: readonly P[] | readonly ParamGroupInput<P>[],
    options: StableAdamWOptions,
  ) {
    if (backend.specificationVersion !== SPECIFICATION_VERSION) {
      throw new UnsupportedBackendError(
        `Backend \`${backend.backendId}\` implements contract version ${String(backend.specificationVersion)}, ` +
          `but this @stable-adamw/core supports ${SPECIFICATION_VERSION}`,
        'Install versions of the adapter and @stable-adamw/core that were released together.',
      );
    }
    this.backend = backend;
    this.defaults = resolveOptions(options);
    this.#lossScaler = options.lossScaler;
    this.paramGroups = buildParamGroups(params, this.defaults);
    this.#checkSafetyOptions();
    this.paramGroups.forEach((group, g) => {
      group.params.forEach((param, i) => {
        const where = `paramGroups[${g}].params[${i}]`;
        const info = backend.describeParam(param, where);
        const label = info.name ? `${where} (${info.name})` : where;
        this.#params.set(param, { info, group: g, index: this.#params.size, where, label });
      });
    });
    const warning = decoupledDecayWarning(this.paramGroups, this.defaults);
    if (warning) console.warn(warning);
  }

  /** The backend that runs the kernels, e.g. `cpu`. */
  get backendId(): string {
    return this.backend.backendId;
  }

  /** The loss scaler passed as `lossScaler`, if any. */
  get lossScaler(): DynamicLossScaler | undefined {
    return this.#lossScaler;
  }

  /**
   * Steps (and, under gradient release, `stepParam` calls) skipped so far because a gradient held
   * NaN or ±Inf under `nonFinite: 'skip'`. Saved in the state dict as `skipped_steps`.
   */
  get skippedSteps(): number {
    return this.#skippedSteps;
  }

  /** Whether the last `step()` or `stepParam()` was skipped for a non-finite gradient. */
  get lastStepSkipped(): boolean {
    return this.#lastStepSkipped;
  }

  /**
   * One optimizer step over every param that has a gradient. Gradients are passed in as a map from
   * param to gradient (params missing from it are skipped); without one, each param's gradient is
   * read from the backend (`getGrad`: the cpu and gpu.js params' `.grad`). Each group's step counter
   * advances even when none of its params has a gradient. Everything is validated before anything
   * changes (hyperparameters, every param's type, length and dtype, every gradient): a throwing
   * `step()` leaves params and state as they were.
   *
   * Groups with `nonFinite: 'skip' | 'throw'` have their gradients scanned first: one NaN or ±Inf
   * among them skips the whole step (no param, moment or counter changes; `skippedSteps` and
   * `lastStepSkipped` report it) or throws a `NonFiniteGradientError`. With a `lossScaler`, the
   * gradients are divided by its scale inside the kernels and the scale is updated afterwards.
   *
   * `step(closure)`, as in PyTorch: runs the closure (which sets the params' gradients), steps, and
   * returns its loss — a Promise of it when the closure or the step is async.
   */
  step(grads?: ReadonlyMap<P, G>): MaybePromise<void>;
  step(closureOrGrads?: ReadonlyMap<P, G> | (() => unknown)): MaybePromise<unknown>;
  step(closureOrGrads?: ReadonlyMap<P, G> | (() => unknown)): MaybePromise<unknown> {
    if (typeof closureOrGrads !== 'function') return this.#step(closureOrGrads);
    this.#assertLive('step()');
    this.#requireOwnGrads('closure', 'needs params that hold their gradients');
    return andThen(closureOrGrads(), (loss) => andThen(this.#step(undefined), () => loss));
  }

  #step(grads: ReadonlyMap<P, G> | undefined): MaybePromise<void> {
    this.#assertLive('step()');
    this.paramGroups.forEach(validateGroup);
    this.#checkSafetyOptions();
    this.#revalidate(this.#params.keys());
    const gradOf = this.#gradSource(grads);
    const items: GradItem<P, G>[] = [];
    this.paramGroups.forEach((group, g) => {
      for (const param of group.params) {
        const grad = gradOf(param);
        if (grad == null) continue;
        this.#checkGrad(param, grad);
        items.push({ param, grad, g });
      }
    });
    const onDevice = this.#skipsOnDevice();
    return andThen(this.#findNonFinite(items, onDevice), (nonFinite) => {
      if (nonFinite) {
        this.#recordSkip();
        this.#endStep(true);
        return undefined;
      }
      if (onDevice) return this.#runOnDevice(items);
      return andThen(this.#run(items), () => this.#endStep(false));
    });
  }

  /** Whether this step's 'skip' decision is the device's (see the contract's `skipsOnDevice`). */
  #skipsOnDevice(): boolean {
    const { stepTensorsOnDevice, skipsOnDevice } = this.backend;
    if (!stepTensorsOnDevice || !this.paramGroups.some((group) => group.nonFinite === 'skip')) return false;
    return skipsOnDevice?.call(this.backend) === true;
  }

  /**
   * A step whose device decides 'skip': state is allocated and the kernels run with the scalars of
   * a clean step at the host's counters; no counter moves here (the device's are reconciled later).
   */
  #runOnDevice(items: readonly GradItem<P, G>[]): MaybePromise<void> {
    const created = this.#allocateSlots(items);
    const gradScale = this.#gradScale();
    const steps = items.map(({ param, grad, g }) => {
      const group = this.paramGroups[g] as ParamGroup<P>;
      return this.#tensorStep(param, grad, group, gradScale, group.step + 1);
    });
    // As in #run: a backend fails before changing anything, and the step's new state is dropped.
    const undo = (error: unknown): never => {
      this.#dropSlots(created);
      throw error;
    };
    try {
      const result = this.backend.stepTensorsOnDevice?.(steps);
      return result instanceof Promise ? result.catch(undo) : result;
    } catch (error) {
      return undo(error);
    }
  }

  /**
   * Reports a finished `step()` to `lastStepSkipped` and the loss scaler. Under gradient release,
   * `stepParam` calls skipped since the previous `step()` count as an overflow of this one.
   */
  #endStep(skipped: boolean): void {
    const overflowed = skipped || this.#skippedSinceStep;
    this.#skippedSinceStep = false;
    this.#lastStepSkipped = overflowed;
    this.#lossScaler?.update(overflowed);
  }

  /** Allocates state, advances the group counters and runs the kernels for a validated step. */
  #run(items: readonly GradItem<P, G>[]): MaybePromise<void> {
    // State is allocated before any counter moves, so a backend refusing it leaves the step undone.
    const created = this.#allocateSlots(items);
    for (const group of this.paramGroups) group.step += 1;
    const gradScale = this.#gradScale();
    if (this.backend.stepTensors) {
      if (items.length === 0) return undefined;
      const steps = items.map(({ param, grad, g }) =>
        this.#tensorStep(
          param,
          grad,
          this.paramGroups[g] as ParamGroup<P>,
          gradScale,
          (this.paramGroups[g] as ParamGroup<P>).step,
        ),
      );
      // A backend fails stepTensors (throwing or rejecting) before changing anything: undo the
      // step's counters and new state.
      const undo = (error: unknown): never => {
        for (const group of this.paramGroups) group.step -= 1;
        this.#dropSlots(created);
        throw error;
      };
      try {
        const result = this.backend.stepTensors(steps);
        return result instanceof Promise ? result.catch(undo) : result;
      } catch (error) {
        return undo(error);
      }
    }
    const pending = items.map(({ param, grad, g }) => {
      const group = this.paramGroups[g] as ParamGroup<P>;
      return this.#stepTensor(param, grad, group, group.step, false, gradScale);
    });
    return andThen(settle(pending), () => undefined);
  }

  /**
   * Gradient release: steps one param with its own gradient and per-parameter step counter, using
   * its group's current hyperparameters, then drops the param's gradient (`clearGrad`), so a later
   * `step()` leaves it alone. Under `accumulate`, only the moments are updated. With
   * `nonFinite: 'skip'`, a non-finite gradient drops this call alone (moments, param and the
   * param's counter unchanged, the gradient cleared); a `lossScaler` is updated by the next `step()`.
   */
  stepParam(param: P, grad: G): MaybePromise<void> {
    this.#assertLive('stepParam()');
    const entry = this.#entry(param);
    if (!this.defaults.gradientRelease) {
      throw new InvalidParamError(
        entry.label,
        'was stepped alone but gradient release is off',
        'Construct the optimizer with { gradientRelease: true }.',
      );
    }
    const group = this.paramGroups[entry.group] as ParamGroup<P>;
    validateGroup(group, entry.group);
    this.#checkSafetyOptions();
    this.#revalidate([param]);
    this.#checkGrad(param, grad);
    const onDevice = this.#skipsParamOnDevice();
    return andThen(this.#findNonFinite([{ param, grad, g: entry.group }], onDevice), (nonFinite) => {
      if (onDevice) return this.#stepParamOnDevice(param, grad, entry.group);
      if (nonFinite) {
        // The call is dropped as a whole; the scaler hears of it at the next step().
        this.#recordSkip();
        this.#skippedSinceStep = true;
        this.backend.clearGrad?.(param);
        return undefined;
      }
      const slot = this.#slot(param, group);
      // Counted once the kernel has started, so a backend refusing the call leaves the counter alone.
      const result = this.#stepTensor(param, grad, group, slot.step + 1, this.accumulate, this.#gradScale());
      slot.step += 1;
      this.#lastStepSkipped = false;
      // optimi's hook frees the gradient right away, so a later framework step() skips this param.
      return andThen(result, () => this.backend.clearGrad?.(param));
    });
  }

  /**
   * Whether `stepParam` is decided on the device (see the contract's `stepParamOnDevice`): as for
   * whole steps, every call of an optimizer with a 'skip' group, so the device keeps all the counters.
   */
  #skipsParamOnDevice(): boolean {
    const { stepParamOnDevice, skipsParamOnDevice } = this.backend;
    if (!stepParamOnDevice || !this.paramGroups.some((group) => group.nonFinite === 'skip')) return false;
    return skipsParamOnDevice?.call(this.backend) === true;
  }

  /**
   * A `stepParam` whose device decides 'skip': state is allocated and the kernels run with the
   * scalars of a clean call at the host's per-param counter; no counter moves here.
   */
  #stepParamOnDevice(param: P, grad: G, g: number): MaybePromise<void> {
    const group = this.paramGroups[g] as ParamGroup<P>;
    const created = this.#allocateSlots([{ param, g }]);
    const slot = this.#slot(param, group);
    const item = this.#tensorStep(param, grad, group, this.#gradScale(), slot.step + 1);
    const step = { ...item, moments: { ...item.moments, reduce: !this.accumulate } };
    const undo = (error: unknown): never => {
      this.#dropSlots(created);
      throw error;
    };
    let result: MaybePromise<void>;
    try {
      result = this.backend.stepParamOnDevice?.(step);
    } catch (error) {
      return undo(error);
    }
    const clear = () => this.backend.clearGrad?.(param);
    return result instanceof Promise ? result.then(clear, undo) : clear();
  }

  /**
   * The step counters as they are now — every group's `step`, every param's gradient-release
   * counter, `skippedSteps`, `lastStepSkipped` and the loss scaler's state — with a way to put them
   * back. For adapters whose device reports a failed step only after it returned (WebGPU error
   * scopes): params and state on the device are undefined from there on, but no counter is left
   * moved past the failure.
   */
  snapshotCounters(): { restore(): void } {
    const groups = this.paramGroups.map((group) => group.step);
    const params = [...this.#slots].map(([param, slot]) => [param, slot.step] as const);
    const skipped = [this.#skippedSteps, this.#lastStepSkipped, this.#skippedSinceStep] as const;
    const scaler = this.#lossScaler?.stateDict();
    return {
      restore: () => {
        this.paramGroups.forEach((group, g) => {
          group.step = groups[g] as number;
        });
        for (const slot of this.#slots.values()) slot.step = 0;
        for (const [param, step] of params) {
          const slot = this.#slots.get(param);
          if (slot) slot.step = step;
        }
        [this.#skippedSteps, this.#lastStepSkipped, this.#skippedSinceStep] = skipped;
        if (scaler) this.#lossScaler?.loadStateDict(scaler);
      },
    };
  }

  /**
   * The group steps, `skippedSteps`, `lastStepSkipped` and the loss scaler's scale and growth
   * tracker as they are now: where a device keeps the counters (`skipsOnDevice`), the values it
   * starts from.
   */
  readCounters(): CounterValues {
    const scaler = this.#lossScaler?.stateDict();
    return {
      groupSteps: this.paramGroups.map((group) => group.step),
      skippedSteps: this.#skippedSteps,
      lastStepSkipped: this.#lastStepSkipped,
      ...(scaler ? { lossScaler: { scale: scaler.scale, growthTracker: scaler.growth_tracker } } : {}),
      ...(this.defaults.gradientRelease
        ? {
            paramSteps: [...this.#params.keys()].map((param) => this.#slots.get(param)?.step ?? 0),
            skippedSinceStep: this.#skippedSinceStep,
          }
        : {}),
    };
  }

  /**
   * Sets the counters a device kept (`skipsOnDevice`) once the adapter has read them back: every
   * group's step, `skippedSteps`, `lastStepSkipped` and the loss scaler's scale and growth tracker.
   * Validated first (an `InvalidParamError` naming the value, a `StateDictError` for a scale or
   * growth tracker the scaler's settings rule out); on error nothing changes.
   */
  reconcileCounters(values: CounterValues): void {
    this.#assertLive('reconcileCounters()');
    const fix = 'Pass counters shaped like readCounters() returns.';
    const count = (x: unknown) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
    const { groupSteps, skippedSteps, lastStepSkipped, lossScaler, paramSteps, skippedSinceStep } =
      values ?? ({} as CounterValues);
    if (!Array.isArray(groupSteps) || groupSteps.length !== this.paramGroups.length) {
      throw new InvalidParamError('counters.groupSteps', `must hold one step per group (${this.paramGroups.length})`, fix);
    }
    groupSteps.forEach((step, g) => {
      if (!count(step)) throw new InvalidParamError(`counters.groupSteps[${g}]`, `is ${String(step)}, not a count`, fix);
    });
    if (!count(skippedSteps))
      throw new InvalidParamError('counters.skippedSteps', `is ${String(skippedSteps)}, not a count`, fix);
    if (typeof lastStepSkipped !== 'boolean') {
      throw new InvalidParamError('counters.lastStepSkipped', `is ${typeof lastStepSkipped}, not a boolean`, fix);
    }
    if (paramSteps !== undefined) {
      if (!Array.isArray(paramSteps) || paramSteps.length !== this.#params.size) {
        throw new InvalidParamError('counters.paramSteps', `must hold one step per param (${this.#params.size})`, fix);
      }
      const params = [...this.#params.keys()];
      paramSteps.forEach((step, i) => {
        if (!count(step)) throw new InvalidParamError(`counters.paramSteps[${i}]`, `is ${String(step)}, not a count`, fix);
        if (step > 0 && !this.#slots.has(params[i] as P)) {
          throw new InvalidParamError(`counters.paramSteps[${i}]`, `is ${step}, but the param has no state`, fix);
        }
      });
    }
    if (skippedSinceStep !== undefined && typeof skippedSinceStep !== 'boolean') {
      throw new InvalidParamError('counters.skippedSinceStep', `is ${typeof skippedSinceStep}, not a boolean`, fix);
    }
    if ((lossScaler === undefined) !== (this.#lossScaler === undefined)) {
      throw new InvalidParamError(
        'counters.lossScaler',
        this.#lossScaler ? 'is missing, but this optimizer has a lossScaler' : 'is set, but this optimizer has no lossScaler',
        fix,
      );
    }
    const scaler =
      this.#lossScaler && lossScaler
        ? parseLossScalerState(
            { ...this.#lossScaler.stateDict(), scale: lossScaler.scale, growth_tracker: lossScaler.growthTracker },
            'counters.lossScaler',
          )
        : undefined;
    this.paramGroups.forEach((group, g) => {
      group.step = groupSteps[g] as number;
    });
    this.#skippedSteps = skippedSteps;
    this.#lastStepSkipped = lastStepSkipped;
    if (skippedSinceStep !== undefined) this.#skippedSinceStep = skippedSinceStep;
    if (paramSteps) {
      [...this.#params.keys()].forEach((param, i) => {
        const slot = this.#slots.get(param);
        if (slot) slot.step = paramSteps[i] as number;
      });
    }
    if (scaler) this.#lossScaler?.loadStateDict(scaler);
  }

  /**
   * PyTorch ≥ 2.0's `zero_grad`: drops every gradient (`grad = null`), or with `setToNone: false`
   * zeroes it in place. A no-op where params hold no gradients (tfjs).
   */
  zeroGrad(options: ZeroGradOptions = {}): void {
    const setToNone = zeroGradSetToNone(options);
    const { clearGrad, zeroGradInPlace } = this.backend;
    if (!clearGrad) return;
    if (!setToNone && !zeroGradInPlace) {
      throw new UnsupportedBackendError(
        `Backend \`${this.backend.backendId}\` cannot zero gradients in place`,
        'Use zeroGrad() (setToNone: true) on this backend.',
      );
    }
    const reset = setToNone ? clearGrad : (zeroGradInPlace as (param: P) => void);
    for (const group of this.paramGroups) for (const param of group.params) reset.call(this.backend, param);
  }

  /**
   * The optimizer state as a JSON-serializable object laid out like PyTorch's `state_dict()`.
   * Synchronous where the backend allows (cpu), a Promise where it reads state back from a device
   * (tfjs, gpu.js): `await optimizer.stateDict()` works on every adapter.
   */
  stateDict(): MaybePromise<StateDict> {
    this.#assertLive('stateDict()');
    return this.#collectStateDict(serializeValues);
  }

  /** The state dict with each moment passed through `values` (serialized, or kept typed for checkpoints). */
  #collectStateDict(values: (array: ArrayLike<number>) => ParamStateEntry['exp_avg']): MaybePromise<StateDict> {
    const entries: MaybePromise<[number, ParamStateEntry]>[] = [];
    for (const [param, slot] of this.#slots) {
      const { info, index } = this.#entry(param);
      entries.push(
        andThen(this.backend.exportState(slot.state, info), (v): [number, ParamStateEntry] => [
          index,
          {
            exp_avg: values(v.expAvg),
            exp_avg_sq: values(v.expAvgSq),
            kahan_comp: slot.kahan && v.kahanComp ? values(v.kahanComp) : null,
            ...(this.defaults.gradientRelease ? { step: slot.step } : {}),
          },
        ]),
      );
    }
    let flat = 0;
    const paramGroups = this.paramGroups.map((group) =>
      groupEntry(
        { ...group, kahanSum: this.#resolvedKahanSum(group) },
        group.step,
        group.params.map(() => flat++),
      ),
    );
    const skipped = this.#skippedSteps;
    const scaler = this.#lossScaler?.stateDict();
    return andThen(settle(entries), (resolved) => ({
      state: Object.fromEntries(resolved.sort((a, b) => a[0] - b[0])),
      param_groups: paramGroups,
      skipped_steps: skipped,
      ...(scaler ? { loss_scaler: scaler } : {}),
    }));
  }

  /**
   * Restores a state dict (from this or any other adapter). Hyperparameters and step counters are
   * restored from it, as in PyTorch (a dict without `non_finite` keeps each group's policy), and so
   * are `skipped_steps` and the `loss_scaler` state when present. It is fully validated first; on
   * error nothing changes. 16-bit params get a Kahan buffer unless the group's `kahan_sum` is
   * false — zeroed when the dict has none (e.g. saved from float32 params); other params drop it.
   * A Promise (an unawaited `stateDict()`) is refused with a `StateDictError`: await it first.
   */
  loadStateDict(stateDict: StateDict): void {
    this.#assertLive('loadStateDict()');
    this.#revalidate(this.#params.keys());
    const parsed = parseStateDict(
      stateDict,
      this.paramGroups.map((group) => group.params.map((p) => this.#entry(p).info)),
    );
    const policies = parsed.groups.map(({ hyperparameters }, g) => {
      const policy = hyperparameters.nonFinite ?? (this.paramGroups[g] as ParamGroup<P>).nonFinite;
      if (this.#lossScaler && policy !== 'skip') {
        throw new StateDictError(
          `param_groups[${g}].non_finite`,
          `is ${JSON.stringify(policy)}, but this optimizer has a lossScaler, which needs 'skip'`,
          "Save the state dict from an optimizer with a lossScaler, or set non_finite to 'skip'.",
        );
      }
      return policy;
    });
    const flatParams = this.paramGroups.flatMap((group) => group.params);
    const slots = new Map<P, ParamSlot<S>>();
    try {
      for (const [index, { values, step }] of parsed.states) {
        const param = flatParams[index] as P;
        const { info, group } = this.#entry(param);
        const kahan = isHalfPrecision(info.dtype) && parsed.groups[group]?.hyperparameters.kahanSum !== false;
        const state = this.backend.importState(param, info, withKahan(values, kahan, info.numel));
        slots.set(param, { state, kahan, step });
      }
    } catch (error) {
      for (const slot of slots.values()) this.backend.disposeState?.(slot.state);
      throw error;
    }
    parsed.groups.forEach(({ hyperparameters, step }, g) => {
      Object.assign(this.paramGroups[g] as ParamGroup<P>, hyperparameters, {
        gradientRelease: this.defaults.gradientRelease,
        nonFinite: policies[g],
        step,
      });
    });
    if (parsed.lossScaler) this.#lossScaler?.loadStateDict(parsed.lossScaler);
    this.#skippedSteps = parsed.skippedSteps;
    this.#disposeSlots();
    this.#slots = slots;
  }

  /**
   * The optimizer state as safetensors bytes, in optimi's layout (`'optimi'`: debiased moments,
   * optimi's group keys) or `torch.optim.AdamW`'s (`'torch-adamw'`: biased moments, per-param
   * `step`), for `python/stable_adamw_checkpoint.py` or any adapter's `loadCheckpoint`. Params are
   * named in it where they have names, so a checkpoint loads by name when the order changed.
   */
  saveCheckpoint({ layout }: { layout: CheckpointLayout }): MaybePromise<Uint8Array> {
    this.#assertLive('saveCheckpoint()');
    // Moments stay typed arrays on the way to the file: no JSON-shaped copy of a large state.
    const typed = this.#collectStateDict((array) => array as unknown as ParamStateEntry['exp_avg']);
    return andThen(typed, (stateDict) => stateDictToCheckpoint(stateDict, { layout, groups: this.#groupInfos() }));
  }

  /**
   * Restores a checkpoint written by `saveCheckpoint` (any adapter) or by the Python module, in
   * the layout it was saved in; validated like `loadStateDict`, and on error nothing changes.
   */
  loadCheckpoint(bytes: Uint8Array, { layout }: { layout: CheckpointLayout }): MaybePromise<void> {
    const { stateDict } = checkpointToStateDict(bytes, {
      layout,
      groups: this.#groupInfos(),
      gradientRelease: this.defaults.gradientRelease,
      typedValues: true,
    });
    return this.loadStateDict(stateDict);
  }

  #groupInfos(): TensorInfo[][] {
    return this.paramGroups.map((group) => group.params.map((param) => this.#entry(param).info));
  }

  /**
   * Frees all optimizer state held by the backend. The optimizer cannot be used afterwards: `step()`,
   * `stepParam()`, `stateDict()` and `loadStateDict()` throw an `OptimizerDisposedError`.
   */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposeSlots();
    this.#slots = new Map();
    this.#disposed = true;
  }

  /**
   * The group's `kahanSum` as optimi records it: `undefined` (auto) becomes true once a 16-bit
   * param of the group has state (optimi sets the group flag when it allocates a Kahan buffer).
   */
  #resolvedKahanSum(group: ParamGroup<P>): boolean | undefined {
    if (group.kahanSum !== undefined) return group.kahanSum;
    return group.params.some((param) => this.#slots.get(param)?.kahan) ? true : undefined;
  }

  #assertLive(method: string): void {
    if (this.#disposed) throw new OptimizerDisposedError(method);
  }

  /** The backend must support what the options ask for: checked at construction and at every step. */
  #checkSafetyOptions(): void {
    const { backendId, findNonFinite, supportsGradScale } = this.backend;
    if (this.#lossScaler && !supportsGradScale) {
      throw new UnsupportedBackendError(
        `Backend \`${backendId}\` does not fold a loss scale into its kernels, so it cannot use a lossScaler`,
        'Leave lossScaler out on this backend, or use one whose README lists loss scaling.',
      );
    }
    this.paramGroups.forEach((group, g) => {
      if (this.#lossScaler) requireSkipWithScaler(`paramGroups[${g}].nonFinite`, group.nonFinite);
      if (group.nonFinite !== 'propagate' && !findNonFinite) {
        throw new UnsupportedBackendError(
          `Backend \`${backendId}\` cannot detect non-finite gradients, so paramGroups[${g}].nonFinite cannot be '${group.nonFinite}'`,
          "Use nonFinite: 'propagate' on this backend, or one whose README lists the nonFinite option.",
        );
      }
    });
  }

  /** Describes `params` again: one whose data changed type or length since construction is refused. */
  #revalidate(params: Iterable<P>): void {
    for (const param of params) {
      const entry = this.#entry(param);
      const info = this.backend.describeParam(param, entry.where);
      if (info.numel !== entry.info.numel || info.dtype !== entry.info.dtype) {
        throw new InvalidParamError(
          entry.label,
          `now holds ${info.numel} ${info.dtype} elements, but held ${entry.info.numel} ${entry.info.dtype} ` +
            'elements when the optimizer was built (its state is sized for them)',
          'Write new values into the existing storage instead of replacing it, or build a new optimizer.',
        );
      }
    }
  }

  /**
   * Whether any gradient of a group with `nonFinite: 'skip' | 'throw'` holds NaN or ±Inf; throws a
   * `NonFiniteGradientError` when one of them is in a 'throw' group.
   */
  #findNonFinite(items: readonly GradItem<P, G>[], onDevice = false): MaybePromise<boolean> {
    // Where the device decides 'skip', only 'throw' groups are asked about.
    const checked = items.filter(({ g }) => {
      const policy = (this.paramGroups[g] as ParamGroup<P>).nonFinite;
      return policy === 'throw' || (policy === 'skip' && !onDevice);
    });
    if (checked.length === 0) return false;
    const checks: GradientCheck<P, G>[] = checked.map(({ param, grad }) => ({ param, grad, info: this.#entry(param).info }));
    // #checkSafetyOptions has made sure the backend has findNonFinite.
    const found = this.backend.findNonFinite?.(checks) ?? [];
    return andThen(found, (indices) => {
      if (indices.length === 0) return false;
      const bad = indices.map((i) => checked[i] as GradItem<P, G>);
      if (bad.some(({ g }) => (this.paramGroups[g] as ParamGroup<P>).nonFinite === 'throw')) {
        throw new NonFiniteGradientError(bad.map(({ param }) => this.#entry(param).label));
      }
      return true;
    });
  }

  #recordSkip(): void {
    this.#skippedSteps += 1;
    this.#lastStepSkipped = true;
  }

  /** The factor gradients are multiplied by in the kernels: 1 / loss scale, or 1. */
  #gradScale(): number {
    return this.#lossScaler ? 1 / this.#lossScaler.scale : 1;
  }

  #disposeSlots(): void {
    for (const slot of this.#slots.values()) this.backend.disposeState?.(slot.state);
  }

  #entry(param: P): ParamEntry {
    const entry = this.#params.get(param);
    if (!entry) {
      throw new InvalidParamError(
        'param',
        'is not managed by this optimizer',
        'Pass one of the params the optimizer was constructed with.',
      );
    }
    return entry;
  }

  #checkGrad(param: P, grad: G): void {
    const entry = this.#entry(param);
    const problem = this.backend.checkGrad(param, grad, entry.info);
    if (problem) throw new GradientMismatchError(entry.label, problem.problem, problem.fix);
  }

  /** Creates missing state for `params` (all or none); returns the params whose state is new. */
  #allocateSlots(params: readonly { param: P; g: number }[]): P[] {
    const created: P[] = [];
    try {
      for (const { param, g } of params) {
        if (this.#slots.has(param)) continue;
        this.#slot(param, this.paramGroups[g] as ParamGroup<P>);
        created.push(param);
      }
    } catch (error) {
      this.#dropSlots(created);
      throw error;
    }
    return created;
  }

  #dropSlots(params: P[]): void {
    for (const param of params) {
      const slot = this.#slots.get(param);
      if (slot) this.backend.disposeState?.(slot.state);
      this.#slots.delete(param);
    }
  }

  #slot(param: P, group: ParamGroup<P>): ParamSlot<S> {
    let slot = this.#slots.get(param);
    if (!slot) {
      const { info } = this.#entry(param);
      const kahan = isHalfPrecision(info.dtype) && group.kahanSum !== false;
      slot = { state: this.backend.createState(param, info, kahan), kahan, step: 0 };
      this.#slots.set(param, slot);
    }
    return slot;
  }

  /** The backend's `getGrad`; throws naming `what` when its params hold no gradients (tfjs). */
  #requireOwnGrads(what: string, problem: string): NonNullable<StableAdamWBackendV1<P, G, S, R>['getGrad']> {
    const { getGrad } = this.backend;
    if (!getGrad) {
      throw new InvalidParamError(
        what,
        `${problem}: backend \`${this.backend.backendId}\` has no gradients of its own`,
        'Pass step(new Map([[param, grad], ...])).',
      );
    }
    return getGrad;
  }

  #gradSource(grads: ReadonlyMap<P, G> | undefined): (param: P) => G | null | undefined {
    if (grads === undefined) {
      const getGrad = this.#requireOwnGrads('grads', 'is required');
      return (param) => getGrad.call(this.backend, param);
    }
    if (!(grads instanceof Map)) {
      throw new InvalidParamError(
        'grads',
        `is ${typeof grads}, not a Map or a closure`,
        'Pass step(new Map([[param, grad], ...])), or step(closure) where the params hold their gradients.',
      );
    }
    for (const param of grads.keys()) this.#entry(param);
    return (param) => grads.get(param);
  }

  #tensorStep(param: P, grad: G, group: ParamGroup<P>, gradScale: number, t: number): TensorStep<P, G, S> {
    const { info } = this.#entry(param);
    const slot = this.#slot(param, group);
    return {
      param,
      grad,
      state: slot.state,
      info,
      moments: momentScalars(group.betas, group.eps, t, info.dtype, true, gradScale),
      update: this.#updateScalars(info, group, slot),
    };
  }

  #updateScalars(info: TensorInfo, group: ParamGroup<P>, slot: ParamSlot<S>): UpdateScalars {
    return {
      lr: group.lr,
      numel: info.numel,
      eps: group.eps,
      weightDecayPerLr: weightDecayPerLr(group.weightDecay, group.decoupleLr, group.maxLr),
      kahan: slot.kahan && group.kahanSum !== false,
    };
  }

  #stepTensor(
    param: P,
    grad: G,
    group: ParamGroup<P>,
    t: number,
    accumulateOnly: boolean,
    gradScale: number,
  ): MaybePromise<void> {
    const { info } = this.#entry(param);
    const slot = this.#slot(param, group);
    const moments = momentScalars(group.betas, group.eps, t, info.dtype, !accumulateOnly, gradScale);
    const sumSquares = this.backend.updateMoments(param, grad, slot.state, moments);
    // Accumulation-only calls ignore the partial sum, but an async backend's work must still finish.
    if (accumulateOnly) return andThen(sumSquares, () => undefined);
    return this.backend.applyUpdate(param, grad, slot.state, sumSquares, this.#updateScalars(info, group, slot));
  }
}

/** State values with a Kahan buffer exactly when `kahan`: the saved one, or zeros when the dict has none. */
function withKahan(values: TensorStateValues, kahan: boolean, numel: number): TensorStateValues {
  if (!kahan) return { ...values, kahanComp: null };
  return values.kahanComp ? values : { ...values, kahanComp: new Float64Array(numel) };
}
