import {
  type MaybePromise,
  SPECIFICATION_VERSION,
  type StableAdamWBackendV1,
  type TensorInfo,
  type TensorStep,
  type UpdateScalars,
} from './contract.js';
import { isHalfPrecision } from './dtype.js';
import { GradientMismatchError, InvalidParamError, UnsupportedBackendError } from './errors.js';
import { andThen, settle } from './maybe-promise.js';
import { type Hyperparameters, resolveOptions, type StableAdamWOptions } from './options.js';
import { buildParamGroups, decoupledDecayWarning, type ParamGroup, type ParamGroupInput, validateGroup } from './param-groups.js';
import { groupEntry, type ParamStateEntry, parseStateDict, type StateDict, serializeValues } from './state-dict.js';
import { momentScalars, weightDecayPerLr } from './step-scalars.js';

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
  /** How error messages name the param. */
  label: string;
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
    this.paramGroups = buildParamGroups(params, this.defaults);
    this.paramGroups.forEach((group, g) => {
      group.params.forEach((param, i) => {
        const where = `paramGroups[${g}].params[${i}]`;
        const info = backend.describeParam(param, where);
        const label = info.name ? `${where} (${info.name})` : where;
        this.#params.set(param, { info, group: g, index: this.#params.size, label });
      });
    });
    const warning = decoupledDecayWarning(this.paramGroups, this.defaults);
    if (warning) console.warn(warning);
  }

  /** The backend that runs the kernels, e.g. `cpu`. */
  get backendId(): string {
    return this.backend.backendId;
  }

  /**
   * One optimizer step over every param that has a gradient. Gradients are passed in as a map from
   * param to gradient (params missing from it are skipped); without one, each param's gradient is
   * read from the backend (`getGrad`: the cpu and gpu.js params' `.grad`). Each group's step counter
   * advances even when none of its params has a gradient. Everything is validated before anything
   * changes: a throwing `step()` leaves params and state as they were.
   */
  step(grads?: ReadonlyMap<P, G>): MaybePromise<void> {
    this.paramGroups.forEach(validateGroup);
    const gradOf = this.#gradSource(grads);
    const work = this.paramGroups.map((group) => {
      const withGrad: { param: P; grad: G }[] = [];
      for (const param of group.params) {
        const grad = gradOf(param);
        if (grad == null) continue;
        this.#checkGrad(param, grad);
        withGrad.push({ param, grad });
      }
      return withGrad;
    });
    // State is allocated before any counter moves, so a backend refusing it leaves the step undone.
    const created = this.#allocateSlots(work.flatMap((items, g) => items.map(({ param }) => ({ param, g }))));
    for (const group of this.paramGroups) group.step += 1;
    if (this.backend.stepTensors) {
      const items = this.paramGroups.flatMap((group, g) =>
        (work[g] ?? []).map(({ param, grad }) => this.#tensorStep(param, grad, group)),
      );
      if (items.length === 0) return undefined;
      try {
        return this.backend.stepTensors(items);
      } catch (error) {
        // A backend throws from stepTensors before changing anything: undo the counters and state.
        for (const group of this.paramGroups) group.step -= 1;
        this.#dropSlots(created);
        throw error;
      }
    }
    const pending = this.paramGroups.flatMap((group, g) =>
      (work[g] ?? []).map(({ param, grad }) => this.#stepTensor(param, grad, group, group.step, false)),
    );
    return andThen(settle(pending), () => undefined);
  }

  /**
   * Gradient release: steps one param with its own gradient and per-parameter step counter, using
   * its group's current hyperparameters, then drops the param's gradient (`clearGrad`), so a later
   * `step()` leaves it alone. Under `accumulate`, only the moments are updated.
   */
  stepParam(param: P, grad: G): MaybePromise<void> {
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
    this.#checkGrad(param, grad);
    const slot = this.#slot(param, group);
    // Counted once the kernel has started, so a backend refusing the call leaves the counter alone.
    const result = this.#stepTensor(param, grad, group, slot.step + 1, this.accumulate);
    slot.step += 1;
    // optimi's hook frees the gradient right away, so a later framework step() skips this param.
    return andThen(result, () => this.backend.clearGrad?.(param));
  }

  /** Drops every param's gradient. */
  zeroGrad(): void {
    const { clearGrad } = this.backend;
    if (!clearGrad) return;
    for (const group of this.paramGroups) for (const param of group.params) clearGrad.call(this.backend, param);
  }

  /** The optimizer state as a JSON-serializable object laid out like PyTorch's `state_dict()`. */
  stateDict(): MaybePromise<StateDict> {
    const entries: MaybePromise<[number, ParamStateEntry]>[] = [];
    for (const [param, slot] of this.#slots) {
      const { info, index } = this.#entry(param);
      entries.push(
        andThen(this.backend.exportState(slot.state, info), (v): [number, ParamStateEntry] => [
          index,
          {
            exp_avg: serializeValues(v.expAvg),
            exp_avg_sq: serializeValues(v.expAvgSq),
            kahan_comp: slot.kahan && v.kahanComp ? serializeValues(v.kahanComp) : null,
            ...(this.defaults.gradientRelease ? { step: slot.step } : {}),
          },
        ]),
      );
    }
    let flat = 0;
    const paramGroups = this.paramGroups.map((group) =>
      groupEntry(
        group,
        group.step,
        group.params.map(() => flat++),
      ),
    );
    return andThen(settle(entries), (resolved) => ({
      state: Object.fromEntries(resolved.sort((a, b) => a[0] - b[0])),
      param_groups: paramGroups,
    }));
  }

  /**
   * Restores a state dict (from this or any other adapter). Hyperparameters and step counters are
   * restored from it, as in PyTorch. It is fully validated first; on error nothing changes.
   */
  loadStateDict(stateDict: StateDict): void {
    const parsed = parseStateDict(
      stateDict,
      this.paramGroups.map((group) => group.params.map((p) => this.#entry(p).info)),
    );
    const flatParams = this.paramGroups.flatMap((group) => group.params);
    const slots = new Map<P, ParamSlot<S>>();
    try {
      for (const [index, { values, step }] of parsed.states) {
        const param = flatParams[index] as P;
        const { info } = this.#entry(param);
        const kahan = values.kahanComp !== null && isHalfPrecision(info.dtype);
        const state = this.backend.importState(param, info, { ...values, kahanComp: kahan ? values.kahanComp : null });
        slots.set(param, { state, kahan, step });
      }
    } catch (error) {
      for (const slot of slots.values()) this.backend.disposeState?.(slot.state);
      throw error;
    }
    parsed.groups.forEach(({ hyperparameters, step }, g) => {
      Object.assign(this.paramGroups[g] as ParamGroup<P>, hyperparameters, {
        gradientRelease: this.defaults.gradientRelease,
        step,
      });
    });
    this.#disposeSlots();
    this.#slots = slots;
  }

  /** Frees all optimizer state held by the backend. The optimizer starts from fresh state afterwards. */
  dispose(): void {
    this.#disposeSlots();
    this.#slots = new Map();
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
  #allocateSlots(params: { param: P; g: number }[]): P[] {
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

  #gradSource(grads: ReadonlyMap<P, G> | undefined): (param: P) => G | null | undefined {
    if (grads === undefined) {
      const { getGrad } = this.backend;
      if (!getGrad) {
        throw new InvalidParamError(
          'grads',
          `is required: backend \`${this.backend.backendId}\` has no gradients of its own`,
          'Pass step(new Map([[param, grad], ...])).',
        );
      }
      return (param) => getGrad.call(this.backend, param);
    }
    if (!(grads instanceof Map)) {
      throw new InvalidParamError('grads', `is ${typeof grads}, not a Map`, 'Pass step(new Map([[param, grad], ...])).');
    }
    for (const param of grads.keys()) this.#entry(param);
    return (param) => grads.get(param);
  }

  #tensorStep(param: P, grad: G, group: ParamGroup<P>): TensorStep<P, G, S> {
    const { info } = this.#entry(param);
    const slot = this.#slot(param, group);
    return {
      param,
      grad,
      state: slot.state,
      info,
      moments: momentScalars(group.betas, group.eps, group.step, info.dtype, true),
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

  #stepTensor(param: P, grad: G, group: ParamGroup<P>, t: number, accumulateOnly: boolean): MaybePromise<void> {
    const { info } = this.#entry(param);
    const slot = this.#slot(param, group);
    const moments = momentScalars(group.betas, group.eps, t, info.dtype, !accumulateOnly);
    const sumSquares = this.backend.updateMoments(param, grad, slot.state, moments);
    // Accumulation-only calls ignore the partial sum, but an async backend's work must still finish.
    if (accumulateOnly) return andThen(sumSquares, () => undefined);
    return this.backend.applyUpdate(param, grad, slot.state, sumSquares, this.#updateScalars(info, group, slot));
  }
}
