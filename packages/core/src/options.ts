import { InvalidHyperparameterError } from './errors.js';
import { DynamicLossScaler } from './loss-scaler.js';

/**
 * What a step does with a gradient holding NaN or ±Inf: `'propagate'` (optimi's behaviour: the
 * values flow into the param and its moments), `'skip'` (the whole step changes nothing, as
 * PyTorch's `GradScaler` does) or `'throw'` (a `NonFiniteGradientError`, nothing changed).
 */
export type NonFinitePolicy = 'propagate' | 'skip' | 'throw';

const NON_FINITE_POLICIES: readonly NonFinitePolicy[] = ['propagate', 'skip', 'throw'];

/** Hyperparameters of StableAdamW, camelCase of optimi's, with optimi's defaults. */
export interface StableAdamWOptions {
  /** Learning rate γ (required, ≥ 0). A scheduler may change each group's `lr` between steps. */
  lr: number;
  /** Coefficients (β1, β2) of the moment averages, each in [0, 1). Default `[0.9, 0.99]`. */
  betas?: readonly [number, number];
  /** Weight decay λ (≥ 0), applied with the clipped learning rate before the Adam step. Default `0.01`. */
  weightDecay?: number;
  /** ε (≥ 0): added to √v in the denominator; ε² floors v in the RMS. Default `1e-6`. */
  eps?: number;
  /** Fully decoupled weight decay: θ·(1 − (η/maxLr)·λ) instead of θ·(1 − η·λ). Default `false`. */
  decoupleLr?: boolean;
  /** Peak learning rate for fully decoupled weight decay. Defaults to the constructor `lr` when `decoupleLr`. */
  maxLr?: number;
  /** Kahan-compensated updates for 16-bit params. `undefined` (default) enables it for bfloat16/float16. */
  kahanSum?: boolean;
  /** Step each parameter as soon as its gradient exists (per-parameter step counters). Default `false`. */
  gradientRelease?: boolean;
  /**
   * What to do with NaN/±Inf gradients (see `NonFinitePolicy`). Default `'propagate'` (optimi's
   * behaviour), or `'skip'` with a `lossScaler`; `'skip'` is recommended for 16-bit training.
   */
  nonFinite?: NonFinitePolicy;
  /**
   * Dynamic loss scaling (optimizer-wide): gradients are divided by `lossScaler.scale` inside the
   * kernels, overflowing steps are skipped, and the scale is updated after every `step()`.
   * Needs `nonFinite: 'skip'` (the default with a scaler) in every group.
   */
  lossScaler?: DynamicLossScaler;
}

/** The hyperparameters a param group carries after defaults are filled in. */
export interface Hyperparameters {
  lr: number;
  betas: [number, number];
  weightDecay: number;
  eps: number;
  decoupleLr: boolean;
  maxLr: number | undefined;
  kahanSum: boolean | undefined;
  gradientRelease: boolean;
  nonFinite: NonFinitePolicy;
}

/** Option names a group may override (everything except `gradientRelease`, which is optimizer-wide). */
export const GROUP_OVERRIDABLE = ['lr', 'betas', 'weightDecay', 'eps', 'decoupleLr', 'maxLr', 'kahanSum', 'nonFinite'] as const;

const OPTION_NAMES = [...GROUP_OVERRIDABLE, 'gradientRelease', 'lossScaler'] as const;

const SNAKE_CASE_HINTS: Record<string, string> = {
  weight_decay: 'weightDecay',
  decouple_lr: 'decoupleLr',
  max_lr: 'maxLr',
  kahan_sum: 'kahanSum',
  gradient_release: 'gradientRelease',
  non_finite: 'nonFinite',
  loss_scaler: 'lossScaler',
  set_to_none: 'setToNone',
  beta1: 'betas',
  beta2: 'betas',
  learning_rate: 'lr',
  learningRate: 'lr',
};

function isNonNegativeFinite(x: unknown): x is number {
  return typeof x === 'number' && Number.isFinite(x) && x >= 0;
}

function requireNonNegative(where: string, value: unknown, fix: string): void {
  if (!isNonNegativeFinite(value)) {
    throw new InvalidHyperparameterError(where, value, 'must be a finite number ≥ 0', fix);
  }
}

function requireBoolean(where: string, value: unknown, optional: boolean): void {
  if (typeof value === 'boolean' || (optional && value === undefined)) return;
  throw new InvalidHyperparameterError(
    where,
    value,
    optional ? 'must be true, false or undefined' : 'must be true or false',
    'Pass a boolean.',
  );
}

/** Rejects keys that are not options, pointing snake_case users to the camelCase name. */
export function rejectUnknownKeys(object: object, where: string, allowed: readonly string[]): void {
  for (const key of Object.keys(object)) {
    if (allowed.includes(key)) continue;
    const hint = SNAKE_CASE_HINTS[key];
    throw new InvalidHyperparameterError(
      where ? `${where}.${key}` : key,
      (object as Record<string, unknown>)[key],
      'is not a StableAdamW option',
      hint ? `Use \`${hint}\` instead.` : `Valid options are: ${allowed.join(', ')}.`,
    );
  }
}

/**
 * Checks one complete set of hyperparameters. `name` turns an option name (`lr`, `betas[0]`) into
 * what the error calls it: `paramGroups[i].lr` for a group, or a state dict's own key (`beta1`).
 */
export function validateHyperparameters(h: Hyperparameters, name: (option: string) => string): void {
  requireNonNegative(name('lr'), h.lr, 'Use a learning rate such as 1e-3.');
  const betas: unknown = h.betas;
  if (!Array.isArray(betas) || betas.length !== 2) {
    throw new InvalidHyperparameterError(
      name('betas'),
      betas,
      'must be a pair [beta1, beta2]',
      'Pass two numbers in [0, 1), e.g. [0.9, 0.99].',
    );
  }
  betas.forEach((beta: unknown, i: number) => {
    if (typeof beta !== 'number' || !(beta >= 0 && beta < 1)) {
      throw new InvalidHyperparameterError(
        name(`betas[${i}]`),
        beta,
        'must be in [0, 1)',
        'Use a value such as 0.9 for beta1 or 0.99 for beta2.',
      );
    }
  });
  requireNonNegative(name('weightDecay'), h.weightDecay, 'Use 0 to disable weight decay.');
  requireNonNegative(name('eps'), h.eps, 'Use a small positive value such as 1e-6.');
  requireBoolean(name('decoupleLr'), h.decoupleLr, false);
  requireBoolean(name('kahanSum'), h.kahanSum, true);
  requireBoolean(name('gradientRelease'), h.gradientRelease, false);
  if (h.maxLr !== undefined) requireNonNegative(name('maxLr'), h.maxLr, 'Use the peak learning rate of your schedule.');
  if (!NON_FINITE_POLICIES.includes(h.nonFinite)) {
    throw new InvalidHyperparameterError(
      name('nonFinite'),
      h.nonFinite,
      "must be 'propagate', 'skip' or 'throw'",
      "Use 'skip' to skip steps with NaN/Inf gradients (recommended for 16-bit training).",
    );
  }
  if (h.decoupleLr && !(typeof h.maxLr === 'number' && h.maxLr > 0)) {
    throw new InvalidHyperparameterError(
      name('maxLr'),
      h.maxLr,
      'must be > 0 when decoupleLr is true (weight decay is scaled by lr / maxLr)',
      'Set maxLr to the peak learning rate of your schedule.',
    );
  }
}

/** Copies a betas value so later edits by the caller cannot reach the optimizer; validation checks its shape. */
export function copyBetas(value: unknown): [number, number] {
  return (Array.isArray(value) ? [...value] : value) as [number, number];
}

/** Fills optimi's defaults into constructor options and validates them. */
export function resolveOptions(options: StableAdamWOptions): Hyperparameters {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidHyperparameterError('options', options, 'must be an object', 'Pass e.g. { lr: 1e-3 }.');
  }
  rejectUnknownKeys(options, '', OPTION_NAMES);
  if (options.lr === undefined) {
    throw new InvalidHyperparameterError('lr', undefined, 'is required', 'Pass a learning rate, e.g. { lr: 1e-3 }.');
  }
  const decoupleLr = options.decoupleLr ?? false;
  const resolved: Hyperparameters = {
    lr: options.lr,
    betas: options.betas === undefined ? [0.9, 0.99] : copyBetas(options.betas),
    weightDecay: options.weightDecay ?? 0.01,
    eps: options.eps ?? 1e-6,
    decoupleLr,
    maxLr: options.maxLr ?? (decoupleLr ? options.lr : undefined),
    kahanSum: options.kahanSum,
    gradientRelease: options.gradientRelease ?? false,
    nonFinite: options.nonFinite ?? (options.lossScaler === undefined ? 'propagate' : 'skip'),
  };
  validateHyperparameters(resolved, (option) => option);
  if (options.lossScaler !== undefined) {
    if (!(options.lossScaler instanceof DynamicLossScaler)) {
      throw new InvalidHyperparameterError(
        'lossScaler',
        options.lossScaler,
        'must be a DynamicLossScaler',
        'Pass new DynamicLossScaler(), or leave lossScaler out.',
      );
    }
    requireSkipWithScaler('nonFinite', resolved.nonFinite);
  }
  return resolved;
}

/** A loss scaler needs overflowing steps skipped: it backs off on them and they must not reach the params. */
export function requireSkipWithScaler(where: string, policy: NonFinitePolicy): void {
  if (policy === 'skip') return;
  throw new InvalidHyperparameterError(
    where,
    policy,
    "must be 'skip' when a lossScaler is used (steps whose scaled gradients overflow are skipped)",
    "Use nonFinite: 'skip', or leave the option out.",
  );
}
