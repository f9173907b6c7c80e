import { InvalidHyperparameterError, InvalidParamError } from './errors.js';
import {
  copyBetas,
  GROUP_OVERRIDABLE,
  type Hyperparameters,
  rejectUnknownKeys,
  type StableAdamWOptions,
  validateHyperparameters,
} from './options.js';

/** A param group as the user passes it: params (maybe none) and overrides; optimi's `beta1`/`beta2` alias `betas`. */
export type ParamGroupInput<P> = { params: readonly P[] } & Partial<
  Omit<StableAdamWOptions, 'gradientRelease' | 'lossScaler'>
> & {
    beta1?: number;
    beta2?: number;
  };

/** Keys a group input may hold besides `params`. */
const GROUP_KEYS = [...GROUP_OVERRIDABLE, 'beta1', 'beta2'] as const;

/**
 * A live param group. Its hyperparameters may be changed between steps (that is how schedulers
 * work); they are validated again at every step.
 */
export interface ParamGroup<P> extends Hyperparameters {
  readonly params: readonly P[];
  /** Steps taken by this group (optimi's group counter); advances on every `step()`. */
  step: number;
}

function isGroupInput<P>(item: unknown): item is ParamGroupInput<P> {
  return typeof item === 'object' && item !== null && 'params' in item && Array.isArray(item.params);
}

/**
 * A group's betas: its `betas`, else the defaults, with optimi's `beta1`/`beta2` keys filled in;
 * a `beta1`/`beta2` that disagrees with the group's own `betas` is refused.
 */
function groupBetas(
  overrides: Omit<ParamGroupInput<unknown>, 'params'>,
  defaults: readonly number[],
  where: string,
): [number, number] {
  const betas: number[] = overrides.betas === undefined ? [...defaults] : copyBetas(overrides.betas);
  (['beta1', 'beta2'] as const).forEach((key, i) => {
    const alias = overrides[key];
    if (alias === undefined) return;
    if (overrides.betas !== undefined && alias !== betas[i]) {
      throw new InvalidHyperparameterError(
        `${where}.${key}`,
        alias,
        `must equal betas[${i}] (${String(betas[i])}) when both are given`,
        `Pass either betas or ${key}, not both.`,
      );
    }
    betas[i] = alias;
  });
  return betas as [number, number];
}

/**
 * Normalises `params | paramGroups` into live groups with defaults filled in, validating every
 * group's overrides (optimi validates only the defaults). A group may be empty, as in PyTorch
 * (`paramGroupsWeightDecay` always returns optimi's two groups); the whole list may not.
 */
export function buildParamGroups<P>(
  input: readonly P[] | readonly ParamGroupInput<P>[],
  defaults: Hyperparameters,
): ParamGroup<P>[] {
  if (!Array.isArray(input) || input.length === 0) {
    throw new InvalidParamError('params', 'must be a non-empty array of params or param groups', 'Pass the tensors to optimize.');
  }
  const groupInputs: ParamGroupInput<P>[] = isGroupInput<P>(input[0])
    ? (input as ParamGroupInput<P>[])
    : [{ params: input as P[] }];
  const seen = new Set<P>();
  return groupInputs.map((groupInput, g) => {
    const where = `paramGroups[${g}]`;
    if (!isGroupInput<P>(groupInput)) {
      throw new InvalidParamError(
        where,
        'is not a param group',
        'Pass either a list of params or a list of { params, ...overrides } groups, not a mix.',
      );
    }
    const { params, ...overrides } = groupInput;
    rejectUnknownKeys(overrides, where, GROUP_KEYS);
    params.forEach((p, i) => {
      if (seen.has(p)) {
        throw new InvalidParamError(`${where}.params[${i}]`, 'appears in more than one place', 'List each param once.');
      }
      seen.add(p);
    });
    const decoupleLr = overrides.decoupleLr ?? defaults.decoupleLr;
    const group: ParamGroup<P> = {
      params: [...params],
      lr: overrides.lr ?? defaults.lr,
      betas: groupBetas(overrides, defaults.betas, where),
      weightDecay: overrides.weightDecay ?? defaults.weightDecay,
      eps: overrides.eps ?? defaults.eps,
      decoupleLr,
      // A group inherits maxLr from the constructor lr, as optimi does (not from its own lr).
      maxLr: overrides.maxLr ?? defaults.maxLr ?? (decoupleLr ? defaults.lr : undefined),
      kahanSum: 'kahanSum' in overrides ? overrides.kahanSum : defaults.kahanSum,
      gradientRelease: defaults.gradientRelease,
      nonFinite: overrides.nonFinite ?? defaults.nonFinite,
      step: 0,
    };
    validateHyperparameters(group, (option) => `${where}.${option}`);
    return group;
  });
}

/** Validates a live group before a step: its hyperparameters may have been edited by a scheduler. */
export function validateGroup<P>(group: ParamGroup<P>, g: number): void {
  validateHyperparameters(group, (option) => `paramGroups[${g}].${option}`);
  if (!Number.isSafeInteger(group.step) || group.step < 0) {
    throw new InvalidHyperparameterError(
      `paramGroups[${g}].step`,
      group.step,
      'must be a non-negative integer',
      'Do not edit the step counter; restore it with loadStateDict.',
    );
  }
}

/** optimi warns once when fully decoupled weight decay is used with a weight decay sized for coupled decay. */
export function decoupledDecayWarning<P>(groups: readonly ParamGroup<P>[], defaults: Hyperparameters): string | undefined {
  if (!defaults.decoupleLr) return undefined;
  const large = groups.filter((g) => g.decoupleLr && g.weightDecay >= 1e-3).map((g) => g.weightDecay);
  if (large.length === 0) return undefined;
  return (
    `StableAdamW: decoupleLr is on and weightDecay is ${Math.max(...large)}. Fully decoupled weight decay ` +
    'is not scaled by the learning rate, so use a much smaller value (e.g. 1e-5 with maxLr 1e-3).'
  );
}
