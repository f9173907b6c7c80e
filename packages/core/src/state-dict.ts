import type { TensorInfo, TensorStateValues } from './contract.js';
import { formatValue, InvalidHyperparameterError, StateDictError } from './errors.js';
import { type LossScalerState, parseLossScalerState } from './loss-scaler.js';
import { type Hyperparameters, type NonFinitePolicy, validateHyperparameters } from './options.js';

/** A float64 value in JSON: non-finite values are written as strings, as Python's `repr` names them. */
export type SerializedNumber = number | 'NaN' | 'Infinity' | '-Infinity';

/** Per-parameter state, laid out like PyTorch's optimizer state (optimi's key names). */
export interface ParamStateEntry {
  exp_avg: SerializedNumber[];
  exp_avg_sq: SerializedNumber[];
  kahan_comp: SerializedNumber[] | null;
  /** Per-parameter step counter (gradient release only). */
  step?: number;
}

/** A param group's hyperparameters with optimi's group keys, plus the group step and param indices. */
export interface ParamGroupEntry {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weight_decay: number;
  decouple_lr: boolean;
  max_lr: number | null;
  /** As optimi: null (auto) until a 16-bit param of the group has state, then true. */
  kahan_sum: boolean | null;
  gradient_release: boolean;
  /** Absent in state dicts saved before the option existed: loading one keeps the group's policy. */
  non_finite?: NonFinitePolicy;
  step: number;
  params: number[];
}

/**
 * A JSON-serializable optimizer state, laid out like PyTorch's `optimizer.state_dict()`, plus two
 * optional top-level keys (absent in older dicts, which load as before).
 */
export interface StateDict {
  state: Record<string, ParamStateEntry>;
  param_groups: ParamGroupEntry[];
  /** Steps (and gradient-release calls) skipped for non-finite gradients so far. */
  skipped_steps?: number;
  /** The `lossScaler`'s state, when the optimizer has one. */
  loss_scaler?: LossScalerState;
}

export function serializeValues(values: ArrayLike<number>): SerializedNumber[] {
  const out: SerializedNumber[] = new Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const x = values[i] as number;
    out[i] = Number.isFinite(x) ? x : Number.isNaN(x) ? 'NaN' : x > 0 ? 'Infinity' : '-Infinity';
  }
  return out;
}

const NON_FINITE: Record<string, number> = {
  NaN: Number.NaN,
  Infinity: Number.POSITIVE_INFINITY,
  '-Infinity': Number.NEGATIVE_INFINITY,
};

function parseValues(value: unknown, numel: number, path: string): Float64Array {
  // Float arrays (a typed `checkpointToStateDict`, a backend's export) hold numbers only: one copy.
  if ((value instanceof Float64Array || value instanceof Float32Array) && value.length === numel) {
    return new Float64Array(value);
  }
  if (!Array.isArray(value)) {
    throw new StateDictError(path, 'must be an array of numbers', 'Pass a state dict produced by stateDict().');
  }
  if (value.length !== numel) {
    throw new StateDictError(
      path,
      `has ${value.length} values but the param has ${numel} elements`,
      'Load a state dict saved from a model with the same parameter shapes, in the same order.',
    );
  }
  const out = new Float64Array(numel);
  for (let i = 0; i < numel; i++) {
    const x: unknown = value[i];
    const parsed = typeof x === 'number' ? x : typeof x === 'string' ? NON_FINITE[x] : undefined;
    if (parsed === undefined) {
      throw new StateDictError(
        `${path}[${i}]`,
        `is ${JSON.stringify(x)}, not a number`,
        'Pass a state dict produced by stateDict().',
      );
    }
    out[i] = parsed;
  }
  return out;
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function requireStep(value: unknown, path: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new StateDictError(
      path,
      `is ${formatValue(value)}, not a non-negative integer count`,
      'Pass a state dict produced by stateDict().',
    );
  }
  return value;
}

/** Writes a group's hyperparameters with optimi's keys. */
export function groupEntry(h: Hyperparameters, step: number, params: number[]): ParamGroupEntry {
  return {
    lr: h.lr,
    beta1: h.betas[0],
    beta2: h.betas[1],
    eps: h.eps,
    weight_decay: h.weightDecay,
    decouple_lr: h.decoupleLr,
    max_lr: h.maxLr ?? null,
    kahan_sum: h.kahanSum ?? null,
    gradient_release: h.gradientRelease,
    non_finite: h.nonFinite,
    step,
    params,
  };
}

/** State-dict keys of the options, for errors about a saved group's hyperparameters. */
const GROUP_KEYS: Record<string, string> = {
  lr: 'lr',
  betas: 'beta1',
  'betas[0]': 'beta1',
  'betas[1]': 'beta2',
  weightDecay: 'weight_decay',
  eps: 'eps',
  decoupleLr: 'decouple_lr',
  maxLr: 'max_lr',
  kahanSum: 'kahan_sum',
  gradientRelease: 'gradient_release',
  nonFinite: 'non_finite',
};

/** A saved group's hyperparameters; `nonFinite` is absent when the dict predates it. */
export type SavedHyperparameters = Omit<Hyperparameters, 'nonFinite'> & { nonFinite?: NonFinitePolicy };

/** A validated state dict, mapped onto this optimizer's params by position. */
export interface ParsedStateDict {
  groups: { hyperparameters: SavedHyperparameters; step: number }[];
  /** Indexed by this optimizer's flat param index; absent where the param has no state yet. */
  states: Map<number, { values: TensorStateValues; step: number }>;
  /** 0 when the dict predates the counter. */
  skippedSteps: number;
  /** The saved loss scaler, validated; undefined when the dict has none. */
  lossScaler: LossScalerState | undefined;
}

/**
 * Validates a state dict against this optimizer's groups (param counts per group, element counts
 * per param, hyperparameters) without touching the optimizer. Params are matched by position,
 * as in PyTorch.
 */
export function parseStateDict(stateDict: unknown, groupInfos: readonly (readonly TensorInfo[])[]): ParsedStateDict {
  const fix = 'Pass the object returned by stateDict() (or its JSON.parse round trip).';
  // tfjs's and gpu.js's stateDict() return a Promise: passing it unawaited is the likely mistake.
  if (isRecord(stateDict) && typeof stateDict.then === 'function') {
    throw new StateDictError(
      '(root)',
      'is a Promise or other thenable, not a state dict',
      'await stateDict() first: `optimizer.loadStateDict(await saved.stateDict())`.',
    );
  }
  if (!isRecord(stateDict) || !isRecord(stateDict.state) || !Array.isArray(stateDict.param_groups)) {
    throw new StateDictError('(root)', 'must be an object with `state` and `param_groups`', fix);
  }
  const savedGroups: unknown[] = stateDict.param_groups;
  if (savedGroups.length !== groupInfos.length) {
    throw new StateDictError(
      'param_groups',
      `has ${savedGroups.length} groups but the optimizer has ${groupInfos.length}`,
      'Construct the optimizer with the same param groups as the one that was saved.',
    );
  }
  const flatIndexOfSaved = new Map<number, number>();
  const infos = groupInfos.flat();
  let flat = 0;
  const groups = savedGroups.map((saved, g) => {
    const path = `param_groups[${g}]`;
    if (!isRecord(saved) || !Array.isArray(saved.params)) {
      throw new StateDictError(path, 'must be an object with a `params` array', fix);
    }
    const ids: unknown[] = saved.params;
    if (ids.length !== (groupInfos[g] as readonly TensorInfo[]).length) {
      throw new StateDictError(
        `${path}.params`,
        `lists ${ids.length} params but the optimizer's group has ${(groupInfos[g] as readonly TensorInfo[]).length}`,
        'Construct the optimizer with the same param groups as the one that was saved.',
      );
    }
    for (const id of ids) {
      if (typeof id !== 'number' || !Number.isSafeInteger(id) || flatIndexOfSaved.has(id)) {
        throw new StateDictError(`${path}.params`, `holds an invalid or repeated param index ${JSON.stringify(id)}`, fix);
      }
      flatIndexOfSaved.set(id, flat++);
    }
    const hyperparameters: SavedHyperparameters = {
      lr: saved.lr as number,
      betas: [saved.beta1 as number, saved.beta2 as number],
      eps: saved.eps as number,
      weightDecay: saved.weight_decay as number,
      decoupleLr: saved.decouple_lr as boolean,
      maxLr: (saved.max_lr ?? undefined) as number | undefined,
      kahanSum: (saved.kahan_sum ?? undefined) as boolean | undefined,
      gradientRelease: saved.gradient_release as boolean,
      ...(saved.non_finite === undefined ? {} : { nonFinite: saved.non_finite as NonFinitePolicy }),
    };
    try {
      validateHyperparameters(
        { ...hyperparameters, nonFinite: hyperparameters.nonFinite ?? 'propagate' },
        (option) => GROUP_KEYS[option] ?? option,
      );
    } catch (error) {
      if (!(error instanceof InvalidHyperparameterError)) throw error;
      throw new StateDictError(`${path}.${error.parameter}`, `is ${formatValue(error.value)}, but it ${error.requirement}`, fix);
    }
    return { hyperparameters, step: requireStep(saved.step, `${path}.step`) };
  });

  const states = new Map<number, { values: TensorStateValues; step: number }>();
  for (const [key, entry] of Object.entries(stateDict.state)) {
    const path = `state.${key}`;
    const index = flatIndexOfSaved.get(Number(key));
    if (index === undefined) {
      throw new StateDictError(path, 'refers to a param index that no param group lists', fix);
    }
    if (!isRecord(entry)) throw new StateDictError(path, 'must be an object', fix);
    const numel = (infos[index] as TensorInfo).numel;
    states.set(index, {
      values: {
        expAvg: parseValues(entry.exp_avg, numel, `${path}.exp_avg`),
        expAvgSq: parseValues(entry.exp_avg_sq, numel, `${path}.exp_avg_sq`),
        kahanComp: entry.kahan_comp == null ? null : parseValues(entry.kahan_comp, numel, `${path}.kahan_comp`),
      },
      step: entry.step === undefined ? 0 : requireStep(entry.step, `${path}.step`),
    });
  }
  return {
    groups,
    states,
    skippedSteps: stateDict.skipped_steps === undefined ? 0 : requireStep(stateDict.skipped_steps, 'skipped_steps'),
    lossScaler: stateDict.loss_scaler === undefined ? undefined : parseLossScalerState(stateDict.loss_scaler, 'loss_scaler'),
  };
}
