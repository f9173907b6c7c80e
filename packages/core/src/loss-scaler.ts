import { formatValue, InvalidHyperparameterError, StateDictError } from './errors.js';

/** Options of `DynamicLossScaler`, PyTorch `GradScaler`'s defaults. */
export interface DynamicLossScalerOptions {
  /** The first scale (> 0). Default `2 ** 16`. */
  initScale?: number;
  /** The scale is multiplied by this (> 1) after `growthInterval` clean steps in a row. Default `2`. */
  growthFactor?: number;
  /** The scale is multiplied by this (in (0, 1)) after a skipped step. Default `0.5`. */
  backoffFactor?: number;
  /** Clean steps in a row before the scale grows (a positive integer). Default `2000`. */
  growthInterval?: number;
  /** The scale never backs off below this (> 0). Default `2 ** -24`. */
  minScale?: number;
  /** The scale never grows above this (≥ minScale). Default `2 ** 24`. */
  maxScale?: number;
}

/** A loss scaler's state in a state dict (`loss_scaler`), with PyTorch `GradScaler`'s key names. */
export interface LossScalerState {
  scale: number;
  growth_factor: number;
  backoff_factor: number;
  growth_interval: number;
  /** Clean steps since the scale last changed. */
  growth_tracker: number;
  min_scale: number;
  max_scale: number;
}

const OPTION_NAMES = ['initScale', 'growthFactor', 'backoffFactor', 'growthInterval', 'minScale', 'maxScale'] as const;

/** A scaler's fixed settings (everything but the scale and the growth tracker). */
interface LossScalerSettings {
  growthFactor: number;
  backoffFactor: number;
  growthInterval: number;
  minScale: number;
  maxScale: number;
}

/** Checks a scaler's settings and scale; returns the option name, value and requirement of the first bad one. */
function settingsProblem(
  s: LossScalerSettings & { scale: number },
): { name: keyof LossScalerSettings | 'scale'; value: unknown; requirement: string } | undefined {
  const positive = (x: unknown) => typeof x === 'number' && Number.isFinite(x) && x > 0;
  if (!positive(s.minScale)) return { name: 'minScale', value: s.minScale, requirement: 'must be a finite number > 0' };
  if (!(positive(s.maxScale) && s.maxScale >= s.minScale)) {
    return { name: 'maxScale', value: s.maxScale, requirement: `must be a finite number ≥ minScale (${s.minScale})` };
  }
  if (!(positive(s.scale) && s.scale >= s.minScale && s.scale <= s.maxScale)) {
    return { name: 'scale', value: s.scale, requirement: `must be in [minScale, maxScale] = [${s.minScale}, ${s.maxScale}]` };
  }
  if (!(positive(s.growthFactor) && s.growthFactor > 1)) {
    return { name: 'growthFactor', value: s.growthFactor, requirement: 'must be a finite number > 1' };
  }
  if (!(positive(s.backoffFactor) && s.backoffFactor < 1)) {
    return { name: 'backoffFactor', value: s.backoffFactor, requirement: 'must be in (0, 1)' };
  }
  if (!(Number.isSafeInteger(s.growthInterval) && s.growthInterval > 0)) {
    return { name: 'growthInterval', value: s.growthInterval, requirement: 'must be a positive integer' };
  }
  return undefined;
}

const STATE_KEYS: Record<keyof LossScalerSettings | 'scale', keyof LossScalerState> = {
  scale: 'scale',
  growthFactor: 'growth_factor',
  backoffFactor: 'backoff_factor',
  growthInterval: 'growth_interval',
  minScale: 'min_scale',
  maxScale: 'max_scale',
};

/**
 * Dynamic loss scaling for 16-bit training, as PyTorch's `GradScaler` and Keras's
 * `LossScaleOptimizer`: multiply the loss by `scale` before the backward pass so that small
 * gradients survive float16, and pass the scaler to the optimizer (`{ lossScaler }`). The
 * optimizer then divides the gradients by the scale inside its kernels (no extra pass), skips
 * every step whose gradients overflowed (NaN or ±Inf), and updates the scale after each `step()`:
 * × `backoffFactor` after a skipped step, × `growthFactor` after `growthInterval` clean steps in a
 * row, kept in [`minScale`, `maxScale`]. Its state is saved in the optimizer's state dict.
 *
 * @example
 * ```ts
 * const scaler = new DynamicLossScaler();
 * const optimizer = new StableAdamW(params, { lr: 1e-3, lossScaler: scaler });
 * // backward pass of (loss · scaler.scale), then:
 * optimizer.step(); // unscales, skips on overflow, updates the scale
 * ```
 */
export class DynamicLossScaler {
  #scale: number;
  #growthTracker = 0;
  #settings: LossScalerSettings;

  constructor(options: DynamicLossScalerOptions = {}) {
    if (typeof options !== 'object' || options === null) {
      throw new InvalidHyperparameterError('options', options, 'must be an object', 'Pass e.g. { initScale: 2 ** 16 }.');
    }
    for (const key of Object.keys(options)) {
      if ((OPTION_NAMES as readonly string[]).includes(key)) continue;
      throw new InvalidHyperparameterError(
        key,
        (options as Record<string, unknown>)[key],
        'is not a DynamicLossScaler option',
        `Valid options are: ${OPTION_NAMES.join(', ')}.`,
      );
    }
    const settings: LossScalerSettings = {
      growthFactor: options.growthFactor ?? 2,
      backoffFactor: options.backoffFactor ?? 0.5,
      growthInterval: options.growthInterval ?? 2000,
      minScale: options.minScale ?? 2 ** -24,
      maxScale: options.maxScale ?? 2 ** 24,
    };
    const scale = options.initScale ?? 2 ** 16;
    const problem = settingsProblem({ ...settings, scale });
    if (problem) {
      const name = problem.name === 'scale' ? 'initScale' : problem.name;
      throw new InvalidHyperparameterError(name, problem.value, problem.requirement, 'Use the defaults of PyTorch GradScaler.');
    }
    this.#settings = settings;
    this.#scale = scale;
  }

  /** The current loss scale: multiply the loss (or the output gradient) by it before the backward pass. */
  get scale(): number {
    return this.#scale;
  }

  /** `loss · scale`. */
  scaleLoss(loss: number): number {
    return loss * this.#scale;
  }

  /**
   * Moves the scale after a step (the optimizer calls this): backs off when the step's gradients
   * were not finite, grows after `growthInterval` clean steps in a row.
   */
  update(foundNonFinite: boolean): void {
    const { backoffFactor, growthFactor, growthInterval, minScale, maxScale } = this.#settings;
    if (foundNonFinite) {
      this.#scale = Math.max(this.#scale * backoffFactor, minScale);
      this.#growthTracker = 0;
      return;
    }
    this.#growthTracker += 1;
    if (this.#growthTracker === growthInterval) {
      this.#scale = Math.min(this.#scale * growthFactor, maxScale);
      this.#growthTracker = 0;
    }
  }

  /** The scaler's state as plain JSON (saved under `loss_scaler` in the optimizer's state dict). */
  stateDict(): LossScalerState {
    const s = this.#settings;
    return {
      scale: this.#scale,
      growth_factor: s.growthFactor,
      backoff_factor: s.backoffFactor,
      growth_interval: s.growthInterval,
      growth_tracker: this.#growthTracker,
      min_scale: s.minScale,
      max_scale: s.maxScale,
    };
  }

  /** Restores a state from `stateDict()`; validated first, nothing changes on error. */
  loadStateDict(state: LossScalerState): void {
    const s = parseLossScalerState(state, 'loss_scaler');
    Object.assign(this.#settings, {
      growthFactor: s.growth_factor,
      backoffFactor: s.backoff_factor,
      growthInterval: s.growth_interval,
      minScale: s.min_scale,
      maxScale: s.max_scale,
    });
    this.#scale = s.scale;
    this.#growthTracker = s.growth_tracker;
  }
}

/** Validates a saved scaler state (`path` names it in errors) and returns it typed. */
export function parseLossScalerState(state: unknown, path: string): LossScalerState {
  const fix = 'Pass the loss_scaler saved by stateDict().';
  if (typeof state !== 'object' || state === null || Array.isArray(state)) {
    throw new StateDictError(path, 'must be an object', fix);
  }
  const s = state as LossScalerState;
  const problem = settingsProblem({
    growthFactor: s.growth_factor,
    backoffFactor: s.backoff_factor,
    growthInterval: s.growth_interval,
    minScale: s.min_scale,
    maxScale: s.max_scale,
    scale: s.scale,
  });
  if (problem) {
    const key = STATE_KEYS[problem.name];
    throw new StateDictError(`${path}.${key}`, `is ${formatValue(problem.value)}, but it ${problem.requirement}`, fix);
  }
  const tracker: unknown = s.growth_tracker;
  if (!(typeof tracker === 'number' && Number.isSafeInteger(tracker) && tracker >= 0 && tracker < s.growth_interval)) {
    throw new StateDictError(
      `${path}.growth_tracker`,
      `is ${formatValue(tracker)}, but it must be an integer in [0, growth_interval)`,
      fix,
    );
  }
  return s;
}
