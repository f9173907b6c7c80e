const MARKER = Symbol.for('stable-adamw.error');

/** Stable machine-readable codes carried by every error this library throws. */
export type StableAdamWErrorCode =
  | 'invalid_hyperparameter'
  | 'invalid_param'
  | 'gradient_mismatch'
  | 'invalid_state_dict'
  | 'unsupported_backend'
  | 'non_finite_gradient'
  | 'optimizer_disposed'
  | 'device_error';

/**
 * Base class of every error thrown by stable-adamw packages.
 *
 * `isInstance` works across duplicate installs of the package (it checks a
 * `Symbol.for` marker rather than the prototype chain).
 */
export class StableAdamWError extends Error {
  readonly [MARKER] = true;
  readonly code: StableAdamWErrorCode;

  constructor(code: StableAdamWErrorCode, message: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
  }

  static isInstance(error: unknown): error is StableAdamWError {
    return typeof error === 'object' && error !== null && MARKER in error;
  }
}

/** A hyperparameter (constructor option, group override or scheduled value) is out of range. */
export class InvalidHyperparameterError extends StableAdamWError {
  /** Where the value came from, e.g. `lr` or `paramGroups[1].betas`. */
  readonly parameter: string;
  readonly value: unknown;
  /** What the value must be, e.g. `must be in [0, 1)`. */
  readonly requirement: string;
  /** How to fix it. */
  readonly fix: string;

  constructor(parameter: string, value: unknown, requirement: string, fix: string) {
    super(
      'invalid_hyperparameter',
      `Argument \`${parameter}\` ${requirement}. Received: ${parameter}=${formatValue(value)}. ${fix}`,
    );
    this.parameter = parameter;
    this.value = value;
    this.requirement = requirement;
    this.fix = fix;
  }
}

/** A parameter handed to the optimizer is not usable by the backend. */
export class InvalidParamError extends StableAdamWError {
  readonly parameter: string;

  constructor(parameter: string, problem: string, fix: string) {
    super('invalid_param', `Parameter \`${parameter}\` ${problem}. ${fix}`);
    this.parameter = parameter;
  }
}

/** A gradient does not match its parameter (length, shape or dtype). */
export class GradientMismatchError extends StableAdamWError {
  readonly parameter: string;

  constructor(parameter: string, problem: string, fix: string) {
    super('gradient_mismatch', `Gradient of \`${parameter}\` ${problem}. ${fix}`);
    this.parameter = parameter;
  }
}

/**
 * A gradient holds NaN or ±Inf under `nonFinite: 'throw'`. Nothing was changed: no param, moment,
 * step counter or loss scale.
 */
export class NonFiniteGradientError extends StableAdamWError {
  /** How the optimizer names each param whose gradient is not finite, e.g. `paramGroups[0].params[1] (w)`. */
  readonly parameters: readonly string[];

  constructor(parameters: readonly string[]) {
    const names = parameters.map((p) => `\`${p}\``).join(', ');
    super(
      'non_finite_gradient',
      `Gradient of ${names} holds NaN or ±Inf, and nonFinite is 'throw'. Nothing was changed. ` +
        "Find the overflow (lower the lr or the loss scale), or pass nonFinite: 'skip' to skip such steps.",
    );
    this.parameters = parameters;
  }
}

/** A method was called on an optimizer after `dispose()`. */
export class OptimizerDisposedError extends StableAdamWError {
  constructor(method: string) {
    super(
      'optimizer_disposed',
      `Cannot call \`${method}\`: the optimizer was disposed and its state freed. ` +
        'Create a new optimizer (and loadStateDict a saved state to resume).',
    );
  }
}

/** A state dict cannot be loaded into this optimizer. */
export class StateDictError extends StableAdamWError {
  /** Path inside the state dict, e.g. `state.3.exp_avg`. */
  readonly path: string;

  constructor(path: string, problem: string, fix: string) {
    super('invalid_state_dict', `State dict entry \`${path}\` ${problem}. ${fix}`);
    this.path = path;
  }
}

/** A backend implements a contract version this core does not know. */
export class UnsupportedBackendError extends StableAdamWError {
  constructor(problem: string, fix: string) {
    super('unsupported_backend', `${problem}. ${fix}`);
  }
}

/**
 * The compute device failed under a step after it was handed over (a WebGPU validation,
 * out-of-memory or internal error, a lost device or context). Params and state on the device are
 * undefined from the failed step on, so the optimizer refuses further steps and state reads with
 * this error; its counters were rolled back to before that step, and `dispose()` still frees it.
 */
export class DeviceError extends StableAdamWError {
  constructor(problem: string, fix: string) {
    super('device_error', `${problem}. ${fix}`);
  }
}

/** Formats a received value for an error message without dumping large arrays. */
export function formatValue(value: unknown): string {
  if (typeof value === 'number' || typeof value === 'boolean' || value == null) return String(value);
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) {
    return value.length <= 4 ? `[${value.map(formatValue).join(', ')}]` : `array(length ${value.length})`;
  }
  if (ArrayBuffer.isView(value)) return `${value.constructor.name}(length ${(value as unknown as ArrayLike<number>).length})`;
  return Object.prototype.toString.call(value);
}
