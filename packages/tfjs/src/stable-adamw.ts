import {
  type CheckpointLayout,
  DynamicLossScaler,
  InvalidHyperparameterError,
  InvalidParamError,
  type ParamGroup,
  type ParamGroupInput,
  type StableAdamWOptions,
  type StateDict,
  StateDictError,
  UnsupportedBackendError,
} from '@stable-adamw/core';
import { resolveOptions, StableAdamWOptimizer } from '@stable-adamw/core/adapter';
import * as tf from '@tensorflow/tfjs-core';
import { createTfjsBackend, type TfjsPartialSum } from './backend.js';
import { activeDevice, DeviceGuard, type StepCounters } from './kernels/device-guard.js';
import type { DeviceSkip } from './kernels/device-skip.js';
import { createDeviceSkip, skipsOnDevice, withDeviceSkip } from './kernels/device-skip-backends.js';
import { type KernelChoice, type ResolvedKernel, resolveKernel } from './kernels/resolve-kernel.js';
import { matchSavedMoments, type SavedMoments } from './saved-moments.js';
import type { TfjsState } from './state.js';

/** Options of the tfjs adapter: optimi's, plus the kernel choice. */
export interface TfjsStableAdamWOptions extends StableAdamWOptions {
  /** `auto` (default): fused kernels where the backend has them (webgl, webgpu, cpu, wasm), composed ops elsewhere. */
  kernel?: KernelChoice;
}

/** A named tensor, as tfjs optimizers' weights and gradients lists use. */
export interface NamedTensor {
  name: string;
  tensor: tf.Tensor;
}

type Backend = ReturnType<typeof createTfjsBackend>;
type Core = StableAdamWOptimizer<tf.Variable, tf.Tensor, TfjsState, TfjsPartialSum>;
type Params = readonly tf.Variable[] | readonly ParamGroupInput<tf.Variable>[];

/** State restored by `setWeights` before the optimizer has met its variables (model.compile + load). */
interface PendingWeights {
  iterations: number;
  moments: Map<string, SavedMoments>;
}

/** A training step driven by gradient release hooks (see `prepareForGradientRelease`). */
export interface ReleaseDriver {
  minimize(f: () => tf.Scalar, returnCost: boolean, varList: tf.Variable[] | undefined): tf.Scalar | null;
  /** `removeGradientRelease` of the prepared target. */
  remove(): void;
}

/** Package-internal access to a StableAdamW's private state for gradient release; not exported from the package. */
export interface OptimizerInternals {
  /** A brand check: tf.Optimizer's `instanceof` accepts any object with the optimizer methods. */
  is(value: unknown): value is StableAdamW;
  gradientRelease(optimizer: StableAdamW): boolean;
  /** Builds the core of an optimizer that discovers its variables (`stableAdamW(...)`) from `variables`. */
  adopt(optimizer: StableAdamW, variables: readonly tf.Variable[]): void;
  release(optimizer: StableAdamW): ReleaseDriver | undefined;
  setRelease(optimizer: StableAdamW, driver: ReleaseDriver | undefined): void;
}

export const optimizerInternals = {} as OptimizerInternals;

const OPTION_KEYS = [
  'lr',
  'betas',
  'weightDecay',
  'eps',
  'decoupleLr',
  'maxLr',
  'kahanSum',
  'gradientRelease',
  'nonFinite',
] as const;

/**
 * StableAdamW for TensorFlow.js, with optimi's semantics and defaults: a real `tf.Optimizer`, so
 * `model.compile({ optimizer })`, `minimize` and `applyGradients` work, on every tfjs backend.
 *
 * @example
 * ```ts
 * const w = tf.variable(tf.randomNormal([4, 2]), true, 'w');
 * const opt = new StableAdamW([w], { lr: 1e-3 });
 * opt.minimize(() => w.square().sum() as tf.Scalar);
 * ```
 */
export class StableAdamW extends tf.Optimizer {
  // An accessor, not a field: tsup's CJS build with splitting turns static fields into an
  // initialiser that runs after the static block below, where registerClass needs the name.
  static get className(): string {
    return 'StableAdamW';
  }

  static {
    tf.serialization.registerClass(StableAdamW);
    Object.assign(optimizerInternals, {
      is: (value: unknown): value is StableAdamW => typeof value === 'object' && value !== null && #options in value,
      gradientRelease: (optimizer) => optimizer.#options.gradientRelease === true,
      adopt: (optimizer, variables) => {
        optimizer.#coreFor(variables.map((v) => v.name));
      },
      release: (optimizer) => optimizer.#release,
      setRelease: (optimizer, driver) => {
        optimizer.#release = driver;
      },
    } satisfies OptimizerInternals);
  }

  readonly #options: TfjsStableAdamWOptions;
  readonly #backend: Backend;
  readonly #byName = new Map<string, tf.Variable>();
  #core: Core | undefined;
  #pending: PendingWeights | undefined;
  #release: ReleaseDriver | undefined;
  /** The tensors the last `getWeights()` returned, freed by the next one or by `dispose()`. */
  #weights: NamedTensor[] = [];
  /** A lost WebGL context, or WebGPU errors that arrive after a step was submitted (see `DeviceGuard`). */
  readonly #guard = new DeviceGuard();
  /** The counters tfjs-webgpu and tfjs-webgl keep on the device under `nonFinite: 'skip'` (see `DeviceSkip`). */
  readonly #skip: DeviceSkip;

  /**
   * @param params variables or param groups (`{ params, ...overrides }`); `null` to discover the
   *   variables at the first `applyGradients` (what `model.compile` needs, see `stableAdamW`).
   * @param options optimi's options (`lr` required) and `kernel`.
   */
  constructor(params: Params | null, options: TfjsStableAdamWOptions) {
    super();
    // Missing options reach core's validation, which names what is required (`lr`).
    const given = options ?? ({} as TfjsStableAdamWOptions);
    const { kernel, ...rest } = given;
    this.#options = given;
    this.#skip = createDeviceSkip(() => this.#core, given.lossScaler);
    this.#backend = withDeviceSkip(createTfjsBackend({ kernel }), this.#skip, kernel ?? 'auto');
    // Validates the options now, even when the variables come later.
    this.#core = params === null ? undefined : this.#build(params, rest);
    if (params === null) resolveOptions(rest);
  }

  #build(params: Params, options: StableAdamWOptions): Core {
    const core = new StableAdamWOptimizer(this.#backend, params, options);
    for (const group of core.paramGroups) for (const v of group.params) this.#byName.set(v.name, v);
    return core;
  }

  #coreFor(names: readonly string[]): Core {
    if (this.#core) return this.#core;
    const variables = names.map((name) => {
      const v = tf.engine().registeredVariables[name];
      if (!v)
        throw new InvalidParamError(
          name,
          'is not a registered tf.Variable',
          'Pass gradients keyed by variable name, as tf.variableGrads does.',
        );
      return v;
    });
    const { kernel: _kernel, ...options } = this.#options;
    const core = this.#build(variables, options);
    // A fresh core has no state to read back, so its state dict is synchronous.
    if (this.#pending) this.#restore(core, this.#pending, core.stateDict() as StateDict);
    this.#core = core;
    this.#pending = undefined;
    return core;
  }

  /** Live param groups (empty until the variables are known); a scheduler may set `lr` between steps. */
  get paramGroups(): ParamGroup<tf.Variable>[] {
    return this.#core?.paramGroups ?? [];
  }

  /** The tfjs backend that runs the steps, e.g. `tfjs-webgl`. */
  get backendId(): string {
    return this.#backend.backendId;
  }

  /**
   * The kernels a step runs on the active backend: `webgpu-multi-tensor` (every tensor in 3
   * dispatches), `webgl-fused` (custom programs per tensor), `host-fused` (loops over the cpu and
   * wasm backends' memory; gradient release runs the composed ops there) or `composed` (tfjs ops).
   * @throws UnsupportedBackendError with `kernel: 'fused'` on a backend without fused kernels.
   */
  get kernelPath(): ResolvedKernel['path'] {
    return resolveKernel(this.#options.kernel ?? 'auto').path;
  }

  /** The `lossScaler` option: `minimize` multiplies the loss by its scale before differentiating. */
  get lossScaler(): DynamicLossScaler | undefined {
    return this.#options.lossScaler;
  }

  /**
   * Steps skipped so far for a NaN/±Inf gradient under `nonFinite: 'skip'` (see core's
   * `skippedSteps`). On the fused webgpu and WebGL2 paths the device decides and this is as of the last step read back:
   * `await settled()` first for the current value.
   */
  get skippedSteps(): number {
    return this.#core?.skippedSteps ?? 0;
  }

  /** Whether the last step was skipped for a NaN/±Inf gradient (webgpu, webgl: as of the last step read back, see `settled`). */
  get lastStepSkipped(): boolean {
    return this.#core?.lastStepSkipped ?? false;
  }

  /**
   * Resolves once `skippedSteps`, `lastStepSkipped`, `lossScaler.scale` and the groups' `step`
   * include every step submitted so far. On tfjs-webgpu and tfjs-webgl (WebGL2, fused kernels) with `nonFinite: 'skip'` the device
   * decides which steps are skipped and keeps those counters, which are read back asynchronously
   * (nothing waits in a step); everywhere else they are current at once. `stateDict()` and
   * `saveCheckpoint()` wait for it themselves.
   * @throws DeviceError (rejects) when the device failed (see `applyGradients`).
   */
  async settled(): Promise<void> {
    await this.#skip.settled();
    this.#guard.check();
  }

  /** Optimizer accumulation (gradient release only): moment-only `stepParam` calls while true. */
  get accumulate(): boolean {
    return this.#core?.accumulate ?? false;
  }

  set accumulate(value: boolean) {
    this.#coreFor([]).accumulate = value;
  }

  /**
   * One StableAdamW step with gradients keyed by variable name (what `tf.variableGrads` and
   * tfjs-layers produce). Variables without a gradient are skipped. The gradients stay yours to
   * dispose. No value is read back from the device.
   * @throws DeviceError when the WebGL context is lost (before or during this step), or once the
   *   WebGPU device reported an error for an earlier step or was lost (the counters are rolled
   *   back to before the failed step; see `DeviceGuard`).
   */
  applyGradients(variableGradients: tf.NamedTensorMap | NamedTensor[]): void {
    this.#guard.check();
    const entries = Array.isArray(variableGradients)
      ? variableGradients.map(({ name, tensor }) => [name, tensor] as const)
      : Object.entries(variableGradients);
    const core = this.#coreFor(entries.map(([name]) => name));
    const grads = new Map<tf.Variable, tf.Tensor>();
    for (const [name, tensor] of entries) {
      const variable = this.#byName.get(name);
      if (!variable) {
        throw new InvalidParamError(
          name,
          'got a gradient but is not managed by this optimizer',
          'Construct the optimizer with this variable, or leave it out of the gradients.',
        );
      }
      grads.set(variable, tensor);
    }
    this.#stepCore(core, grads);
    this.incrementIterations();
  }

  /** Core's `step(grads)` under the device guard; the device keeps the counters where it decides 'skip'. */
  #stepCore(core: Core, grads: ReadonlyMap<tf.Variable, tf.Tensor>): void {
    const onDevice = core.paramGroups.some((g) => g.nonFinite === 'skip') && this.#skipsOnDevice();
    this.#requireSettled(onDevice, 'a step');
    this.#guard.step(
      activeDevice(),
      () => this.#counters(core, 'the step', onDevice),
      () => core.step(grads),
    );
  }

  #skipsOnDevice(): boolean {
    return skipsOnDevice(this.#options.kernel ?? 'auto');
  }

  /** A call whose counters the host keeps may not run while the device's are not read back yet. */
  #requireSettled(onDevice: boolean, what: string): void {
    const pending = this.#skip.pending;
    if (onDevice || pending === 0) return;
    throw new UnsupportedBackendError(
      `${what} that counts on the host was asked for while ${pending} step(s) whose counters the device keeps (nonFinite: 'skip') are not read back yet`,
      'await optimizer.settled() before switching the backend, the kernel or the nonFinite policy.',
    );
  }

  /**
   * The optimizer's counters and `iterations` as they are now, to roll back a step the device
   * failed; for a step whose device keeps the counters, to the device's after the step before.
   */
  #counters(core: Core, what: string, onDevice = false): StepCounters {
    const counters = core.snapshotCounters();
    const device = onDevice ? this.#skip.rollbackPoint() : undefined;
    const iterations = this.iterations;
    return {
      label: `${what} after iterations = ${iterations}`,
      restore: () => {
        counters.restore();
        device?.();
        this.iterations_ = iterations;
      },
    };
  }

  /**
   * `step(closure)` as in optimi and PyTorch: differentiates the closure's loss with respect to the
   * optimizer's variables (tfjs's gradient scope is `minimize`), steps, and returns the loss (yours
   * to dispose). tfjs optimizers hold no gradients between calls, so there is no `step()` without a
   * closure: use `applyGradients` to hand gradients in.
   */
  step(closure: () => tf.Scalar): tf.Scalar {
    if (typeof closure !== 'function') {
      throw new InvalidParamError(
        'closure',
        `is ${closure === null ? 'null' : typeof closure}, not a function`,
        'Pass step(() => loss), or hand gradients to applyGradients.',
      );
    }
    return this.minimize(closure, true) as tf.Scalar;
  }

  /**
   * Computes the gradients of `f` and applies them. Without `varList`, an optimizer built with its
   * variables differentiates only those (tfjs's default is every trainable variable `f` touches).
   * With a `lossScaler`, `f`'s loss is multiplied by the current scale before differentiation (as
   * Keras's `LossScaleOptimizer`), the step divides the gradients by it, and the returned cost is
   * the unscaled loss (on webgpu and webgl, where the device keeps the scale, by the device's scale tensor,
   * so the loss and the step's unscale agree before the host has read the scale back). If the step
   * throws, the loss and gradients made here are freed.
   * With gradient release prepared, each variable is updated during backprop, in its read's hook;
   * with a `lossScaler`, a step without gradients then ends the iteration (core's `step()`): it
   * backs the scale off when a variable's call was skipped, and grows it after clean iterations.
   */
  override minimize(f: () => tf.Scalar, returnCost = false, varList?: tf.Variable[]): tf.Scalar | null {
    this.#guard.check();
    const scaler = this.#options.lossScaler;
    // On the device's skip path the scale lives on the device: the loss is multiplied by it there.
    const scale = scaler && this.#skipsOnDevice() ? this.#skip.lossScale() : scaler?.scale;
    let loss: tf.Scalar | undefined;
    // tf.keep lets the unscaled loss outlive the forward pass's tidy; it is freed below.
    const objective =
      scale === undefined
        ? f
        : () => {
            loss = tf.keep(f());
            return tf.mul(loss, scale) as tf.Scalar;
          };
    let value: tf.Scalar | undefined;
    try {
      value = this.#release ? this.#releaseStep(this.#release, objective, varList) : this.#gradientStep(objective, varList);
    } catch (error) {
      tf.dispose([loss, value].filter((t) => t !== undefined));
      throw error;
    }
    const cost = loss ?? value;
    if (loss) value.dispose();
    if (returnCost) return cost;
    cost.dispose();
    return null;
  }

  /** `minimize` without gradient release: the gradients of `objective`, applied; returns its value. */
  #gradientStep(objective: () => tf.Scalar, varList: tf.Variable[] | undefined): tf.Scalar {
    const managed = this.#core?.paramGroups.flatMap((g) => g.params).filter((v) => v.trainable);
    const computed = this.computeGradients(objective, varList ?? managed);
    try {
      this.applyGradients(
        varList ? varList.map((v) => ({ name: v.name, tensor: computed.grads[v.name] as tf.Tensor })) : computed.grads,
      );
    } catch (error) {
      computed.value.dispose();
      throw error;
    } finally {
      tf.dispose(computed.grads);
    }
    return computed.value;
  }

  /**
   * `minimize` with gradient release: backprop steps the variables; with a loss scaler, core's
   * `step()` without gradients then tells the scaler whether a call was skipped. Returns `objective`'s value.
   */
  #releaseStep(release: ReleaseDriver, objective: () => tf.Scalar, varList: tf.Variable[] | undefined): tf.Scalar {
    const value = release.minimize(objective, true, varList) as tf.Scalar;
    try {
      if (this.#options.lossScaler) this.#stepCore(this.#coreFor([]), new Map());
    } catch (error) {
      value.dispose();
      throw error;
    }
    this.incrementIterations();
    return value;
  }

  /**
   * Gradient release: updates `variable` with `grad` right away (see core's `stepParam`).
   * @throws DeviceError when the device failed (see `applyGradients`).
   */
  stepParam(variable: tf.Variable, grad: tf.Tensor): void {
    this.#guard.check();
    const core = this.#coreFor([variable.name]);
    // As core decides (see its stepParamOnDevice): every call of an optimizer with a 'skip' group.
    const onDevice = core.paramGroups.some((g) => g.nonFinite === 'skip') && this.#skipsOnDevice();
    this.#requireSettled(onDevice, 'stepParam()');
    this.#guard.step(
      activeDevice(),
      () => this.#counters(core, `stepParam(${variable?.name})`, onDevice),
      () => core.stepParam(variable, grad),
    );
  }

  /**
   * The state as a JSON-serializable, PyTorch-shaped object (reads the moments back; not for the
   * hot path). Waits for `settled()` first, so the counters are exact on webgpu and webgl too.
   */
  stateDict(): Promise<StateDict> {
    this.#guard.check();
    const core = this.#core;
    if (!core) throw new InvalidParamError('stateDict', 'has no variables yet', 'Call it after the first applyGradients.');
    return this.#whenSettled(() => core.stateDict());
  }

  /** Restores a state dict from any adapter (cpu, gpu.js, tfjs). */
  loadStateDict(stateDict: StateDict): void {
    this.#guard.check();
    if (!this.#core) {
      if (typeof (stateDict as { then?: unknown } | null)?.then === 'function') {
        throw new StateDictError(
          '(root)',
          'is a Promise or other thenable, not a state dict',
          'await stateDict() first: `optimizer.loadStateDict(await saved.stateDict())`.',
        );
      }
      throw new InvalidParamError('loadStateDict', 'has no variables yet', 'Construct the optimizer with its variables first.');
    }
    this.#core.loadStateDict(stateDict);
    this.#skip.restart();
  }

  /**
   * The state as safetensors bytes in optimi's (`'optimi'`) or `torch.optim.AdamW`'s
   * (`'torch-adamw'`) layout, named by variable, for `python/stable_adamw_checkpoint.py` or any
   * adapter's `loadCheckpoint` (reads the moments back; waits for `settled()` first).
   */
  saveCheckpoint(options: { layout: CheckpointLayout }): Promise<Uint8Array> {
    this.#guard.check();
    const core = this.#core;
    if (!core) throw new InvalidParamError('saveCheckpoint', 'has no variables yet', 'Call it after the first applyGradients.');
    return this.#whenSettled(() => core.saveCheckpoint(options));
  }

  /** `read()` once the device's counters are read back (at once when none are pending). */
  #whenSettled<T>(read: () => T | Promise<T>): Promise<T> {
    if (this.#skip.pending === 0) return Promise.resolve(read());
    return this.settled().then(read);
  }

  /** Restores a checkpoint from `saveCheckpoint` (any adapter) or the Python module, matched by variable name. */
  loadCheckpoint(bytes: Uint8Array, options: { layout: CheckpointLayout }): void {
    this.#guard.check();
    if (!this.#core)
      throw new InvalidParamError('loadCheckpoint', 'has no variables yet', 'Construct the optimizer with its variables first.');
    this.#core.loadCheckpoint(bytes, options);
    this.#skip.restart();
  }

  /**
   * tfjs weights for `model.save()`: iterations, then each variable's exp_avg and exp_avg_sq.
   * tfjs-layers never frees what this returns, so the optimizer owns the tensors: they stay valid
   * until the next `getWeights()` or `dispose()`, which free them (saving leaks nothing). Clone
   * them to keep them longer.
   */
  override async getWeights(): Promise<NamedTensor[]> {
    this.#guard.check();
    tf.dispose(this.#weights.map((w) => w.tensor));
    this.#weights = [];
    const weights = [await this.saveIterations()];
    this.#weights = weights;
    if (!this.#core) return weights;
    const sd = await this.#core.stateDict();
    const flat = this.#core.paramGroups.flatMap((g) => g.params);
    for (const [index, entry] of Object.entries(sd.state)) {
      const v = flat[Number(index)] as tf.Variable;
      weights.push({ name: `${v.name}/exp_avg`, tensor: tf.tensor(entry.exp_avg.map(Number), v.shape, 'float32') });
      weights.push({ name: `${v.name}/exp_avg_sq`, tensor: tf.tensor(entry.exp_avg_sq.map(Number), v.shape, 'float32') });
    }
    return weights;
  }

  /** Restores `getWeights()` output (model loading); applied when the variables are known. */
  override async setWeights(weightValues: NamedTensor[]): Promise<void> {
    this.#guard.check();
    const rest = await this.extractIterations(weightValues);
    const moments = new Map<string, SavedMoments>();
    for (const { name, tensor } of rest) {
      const match = /^(.*)\/(exp_avg|exp_avg_sq)$/.exec(name);
      if (!match)
        throw new InvalidParamError(name, 'is not a StableAdamW weight', 'Pass the weights saved by StableAdamW.getWeights().');
      const [, variable, kind] = match as unknown as [string, string, string];
      const slot = moments.get(variable) ?? { expAvg: new Float32Array(), expAvgSq: new Float32Array() };
      slot[kind === 'exp_avg' ? 'expAvg' : 'expAvgSq'] = (await tensor.data()) as Float32Array;
      moments.set(variable, slot);
    }
    const pending = { iterations: this.iterations, moments };
    if (this.#core) this.#restore(this.#core, pending, await this.#core.stateDict());
    else this.#pending = pending;
  }

  /** Loads saved moments and the iteration count, keeping `current`'s hyperparameters. */
  #restore(core: Core, { iterations, moments }: PendingWeights, current: StateDict): void {
    const state = matchSavedMoments(
      core.paramGroups.flatMap((g) => g.params),
      moments,
    );
    core.loadStateDict({ state, param_groups: current.param_groups.map((g) => ({ ...g, step: iterations })) });
    this.#skip.restart();
  }

  /** Frees the moments and the iteration counter, and removes gradient release if it is prepared. */
  override dispose(): void {
    this.#guard.dispose();
    this.#release?.remove();
    tf.dispose(this.#weights.map((w) => w.tensor));
    this.#weights = [];
    this.#core?.dispose();
    this.#skip.dispose();
    super.dispose();
  }

  /**
   * optimi's options (as given), the kernel choice and the `lossScaler`'s settings and current
   * state (scale, growth tracker), for tfjs serialization.
   */
  getConfig(): tf.serialization.ConfigDict {
    const config: tf.serialization.ConfigDict = {};
    for (const key of [...OPTION_KEYS, 'kernel'] as const) {
      const value = this.#options[key];
      if (value !== undefined) config[key] = Array.isArray(value) ? [...value] : (value as tf.serialization.ConfigDictValue);
    }
    if (this.#options.lossScaler) config.lossScaler = lossScalerConfig(this.#options.lossScaler);
    return config;
  }

  /**
   * Rebuilds the optimizer from `getConfig()` output (variables are discovered at the first step),
   * with a new `DynamicLossScaler` in the saved state when the config has one. Keys other than the
   * options are ignored: tfjs-layers adds its own, such as `customObjects`.
   */
  static override fromConfig<T extends tf.serialization.Serializable>(
    cls: tf.serialization.SerializableConstructor<T>,
    config: tf.serialization.ConfigDict,
  ): T {
    const options: Record<string, unknown> = Object.fromEntries(
      [...OPTION_KEYS, 'kernel'].filter((key) => key in config).map((key) => [key, config[key]]),
    );
    if (config.lossScaler != null) options.lossScaler = lossScalerFromConfig(config.lossScaler);
    return new (cls as unknown as new (params: null, options: TfjsStableAdamWOptions) => T)(
      null,
      options as unknown as TfjsStableAdamWOptions,
    );
  }
}

/**
 * A loss scaler's settings and state in camelCase: tfjs-layers converts config keys to snake_case
 * when it saves a model and back when it loads one, which only camelCase keys survive unchanged.
 */
function lossScalerConfig(scaler: DynamicLossScaler): tf.serialization.ConfigDict {
  const s = scaler.stateDict();
  return {
    scale: s.scale,
    growthFactor: s.growth_factor,
    backoffFactor: s.backoff_factor,
    growthInterval: s.growth_interval,
    growthTracker: s.growth_tracker,
    minScale: s.min_scale,
    maxScale: s.max_scale,
  };
}

/** A new scaler from `lossScalerConfig` output: settings validated as options, then the growth tracker restored. */
function lossScalerFromConfig(value: tf.serialization.ConfigDictValue): DynamicLossScaler {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidHyperparameterError(
      'lossScaler',
      value,
      'must be the object getConfig() saved',
      'Pass the config StableAdamW.getConfig() returned, or leave lossScaler out.',
    );
  }
  const c = value as Record<string, number | undefined>;
  const scaler = new DynamicLossScaler({
    initScale: c.scale,
    growthFactor: c.growthFactor,
    backoffFactor: c.backoffFactor,
    growthInterval: c.growthInterval,
    minScale: c.minScale,
    maxScale: c.maxScale,
  });
  scaler.loadStateDict({ ...scaler.stateDict(), growth_tracker: c.growthTracker ?? 0 });
  return scaler;
}

/** A StableAdamW that picks up its variables at the first step: `model.compile({ optimizer: stableAdamW({ lr: 1e-3 }), loss })`. */
export function stableAdamW(options: TfjsStableAdamWOptions): StableAdamW {
  return new StableAdamW(null, options);
}
