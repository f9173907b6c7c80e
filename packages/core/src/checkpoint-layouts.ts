/**
 * Optimizer checkpoints as safetensors files that PyTorch reads and writes (see `python/` at the
 * repository root), in two layouts:
 *
 * - `'optimi'`: optimi's `StableAdamW.state_dict()`. Tensors `state.<i>.exp_avg`, `exp_avg_sq`
 *   (debiased m̂, v̂, as optimi and this library store them), `kahan_comp` (16-bit params),
 *   `eps_sq` (ε² in the param dtype) and, under gradient release, the per-param `step` (I64).
 *   Group hyperparameters with optimi's keys (`lr`, `beta1`, `beta2`, `eps`, `weight_decay`,
 *   `decouple_lr`, `max_lr`, `kahan_sum`, `gradient_release`, `step`, `params`) in the metadata.
 * - `'torch-adamw'`: `torch.optim.AdamW.state_dict()`. Per-param `step` (F32, as torch stores it)
 *   and the BIASED moments torch keeps: m = m̂·(1 − β1^t), v = v̂·(1 − β2^t). Groups with torch's
 *   keys (`betas`, `amsgrad`, `maximize`, `foreach`, `capturable`, `differentiable`, `fused`).
 *   Fully decoupled weight decay is written as torch's equivalent λ/max_lr. AMSGrad state and
 *   `maximize` have no StableAdamW equivalent and are refused on load.
 *
 * Both layouts: tensors shaped like the params (from their `TensorInfo`), in the param dtype;
 * `__metadata__` holds `format: "pt"`, `layout`, `param_groups` (JSON), `param_names` (JSON
 * name → index, when params have names: a checkpoint then loads by name even if the param order
 * changed), and `stable_adamw` (JSON: what only this library has — skipped steps, the loss scaler,
 * each group's `non_finite`). Params themselves may be included as `params.<name or index>`.
 */
import { decodeTensor, encodeTensor, readValues, storageDtype } from './checkpoint-codec.js';
import type { TensorInfo } from './contract.js';
import type { Dtype } from './dtype.js';
import { formatValue, StateDictError } from './errors.js';
import { readSafetensors, type SafetensorsTensor, writeSafetensors } from './safetensors.js';
import { type ParamGroupEntry, type ParamStateEntry, type StateDict, serializeValues } from './state-dict.js';

/** How optimizer state is laid out in a checkpoint: optimi's StableAdamW or `torch.optim.AdamW`. */
export type CheckpointLayout = 'optimi' | 'torch-adamw';

export const CHECKPOINT_LAYOUTS: readonly CheckpointLayout[] = ['optimi', 'torch-adamw'];

/** The optimizer's params, which give each state tensor its shape, dtype and name. */
export interface CheckpointParams {
  /** Per param group, in the optimizer's order: a state dict's indices are positions in `groups.flat()`. */
  readonly groups: readonly (readonly TensorInfo[])[];
  /** Names by flat index, overriding `TensorInfo.name` (`undefined` leaves a param unnamed). */
  readonly names?: readonly (string | undefined)[];
}

export interface SaveCheckpointOptions extends CheckpointParams {
  readonly layout: CheckpointLayout;
  /** Param values by flat index, stored as `params.<name>` (or `params.<index>` when unnamed). */
  readonly params?: readonly ArrayLike<number>[];
  /** More `__metadata__` entries (the keys this module writes take precedence). */
  readonly metadata?: Readonly<Record<string, string>>;
}

export interface LoadCheckpointOptions extends Partial<CheckpointParams> {
  readonly layout: CheckpointLayout;
  /**
   * `'torch-adamw'` only: the target optimizer uses gradient release, so each param keeps its own
   * step counter. Without it, the params of a group must share one step count (as StableAdamW
   * without gradient release counts steps per group).
   */
  readonly gradientRelease?: boolean;
  /**
   * Keep the moments as the `Float64Array`s decoded from the file instead of JSON-serializable
   * number arrays: much faster for large states, and `loadStateDict` accepts either.
   */
  readonly typedValues?: boolean;
}

/** A param stored in a checkpoint. */
export interface CheckpointParamValues {
  readonly dtype: Dtype;
  readonly shape: readonly number[];
  readonly values: Float64Array;
}

export interface LoadedCheckpoint {
  /** Ready for `optimizer.loadStateDict`, numbered like the target's params when `groups` was given. */
  readonly stateDict: StateDict;
  /** The `params.*` tensors, by the name (or index) they were stored under. */
  readonly params: ReadonlyMap<string, CheckpointParamValues>;
  /** The same params by the target's flat index (undefined where not stored); empty without `groups`. */
  readonly paramValues: readonly (CheckpointParamValues | undefined)[];
  /** The file's whole `__metadata__`. */
  readonly metadata: Readonly<Record<string, string>>;
}

const SAVE_FIX = 'Pass the object returned by stateDict() and the same optimizer’s param groups.';
const LOAD_FIX = 'Pass a checkpoint written by saveCheckpoint / stateDictToCheckpoint or python/stable_adamw_checkpoint.py.';

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function checkLayout(layout: unknown): CheckpointLayout {
  if (!CHECKPOINT_LAYOUTS.includes(layout as CheckpointLayout)) {
    throw new StateDictError(
      'layout',
      `is ${formatValue(layout)}, not 'optimi' or 'torch-adamw'`,
      "Pass { layout: 'optimi' } or { layout: 'torch-adamw' }.",
    );
  }
  return layout as CheckpointLayout;
}

/** Names by flat index; throws when two params share a name (the name table would be ambiguous). */
function resolveNames(infos: readonly TensorInfo[], names: readonly (string | undefined)[] | undefined): (string | undefined)[] {
  const out = infos.map((info, i) => (names ? names[i] : info.name));
  const seen = new Map<string, number>();
  out.forEach((name, i) => {
    if (name === undefined) return;
    const first = seen.get(name);
    if (first !== undefined) {
      throw new StateDictError(
        `names[${i}]`,
        `is ${JSON.stringify(name)}, the name of param ${first} too`,
        'Give every param a unique name, or pass names with undefined for the duplicates.',
      );
    }
    seen.set(name, i);
  });
  return out;
}

/** The shape to store: the param's shape when it holds `numel` elements, else flat. */
function shapeOf(info: TensorInfo): readonly number[] {
  return info.shape.reduce((a, b) => a * b, 1) === info.numel ? info.shape : [info.numel];
}

const scalar = (dtype: 'F32' | 'I64', value: number): SafetensorsTensor =>
  dtype === 'F32'
    ? { dtype, shape: [], data: Float32Array.of(value) }
    : { dtype, shape: [], data: BigInt64Array.of(BigInt(value)) };

function scaled(values: Float64Array, factor: number): Float64Array {
  return values.map((x) => x * factor);
}

/** torch AdamW's group for a StableAdamW group (fully decoupled decay becomes λ/max_lr). */
function torchGroup(group: ParamGroupEntry, params: number[]): Record<string, unknown> {
  return {
    lr: group.lr,
    betas: [group.beta1, group.beta2],
    eps: group.eps,
    weight_decay: group.decouple_lr ? group.weight_decay / (group.max_lr as number) : group.weight_decay,
    amsgrad: false,
    maximize: false,
    foreach: null,
    capturable: false,
    differentiable: false,
    fused: null,
    params,
  };
}

function optimiGroup(group: ParamGroupEntry, params: number[]): Record<string, unknown> {
  return {
    lr: group.lr,
    beta1: group.beta1,
    beta2: group.beta2,
    eps: group.eps,
    weight_decay: group.weight_decay,
    decouple_lr: group.decouple_lr,
    max_lr: group.max_lr,
    kahan_sum: group.kahan_sum,
    gradient_release: group.gradient_release,
    step: group.step,
    params,
  };
}

/**
 * Converts a state dict (from `optimizer.stateDict()`) into a safetensors checkpoint in `layout`,
 * shaping each tensor like its param. An adapter's `saveCheckpoint` is
 * `stateDictToCheckpoint(await this.stateDict(), { layout, groups })`.
 *
 * @throws StateDictError when the state dict does not fit `groups` (group or param counts, element
 * counts), a value is not a number, two params share a name, or `params` has the wrong length.
 */
export function stateDictToCheckpoint(stateDict: StateDict, options: SaveCheckpointOptions): Uint8Array {
  const layout = checkLayout(options.layout);
  const infos = options.groups.flat();
  const names = resolveNames(infos, options.names);
  if (!isRecord(stateDict) || !isRecord(stateDict.state) || !Array.isArray(stateDict.param_groups)) {
    throw new StateDictError('(root)', 'must be an object with `state` and `param_groups`', SAVE_FIX);
  }
  if (stateDict.param_groups.length !== options.groups.length) {
    throw new StateDictError(
      'param_groups',
      `has ${stateDict.param_groups.length} groups but options.groups has ${options.groups.length}`,
      SAVE_FIX,
    );
  }
  /** Saved index → [flat position, group]. */
  const position = new Map<number, [number, number]>();
  const groups: Record<string, unknown>[] = stateDict.param_groups.map((group, g) => {
    const expected = (options.groups[g] as readonly TensorInfo[]).length;
    if (!isRecord(group) || !Array.isArray(group.params) || group.params.length !== expected) {
      throw new StateDictError(`param_groups[${g}].params`, `does not list the group's ${expected} params`, SAVE_FIX);
    }
    const flat = group.params.map((id) => {
      position.set(id, [position.size, g]);
      return position.size - 1;
    });
    return layout === 'optimi' ? optimiGroup(group, flat) : torchGroup(group, flat);
  });

  const tensors = new Map<string, SafetensorsTensor>();
  for (const [key, entry] of Object.entries(stateDict.state) as [string, ParamStateEntry][]) {
    const at = position.get(Number(key));
    if (at === undefined) throw new StateDictError(`state.${key}`, 'refers to a param index that no param group lists', SAVE_FIX);
    const [k, g] = at;
    const info = infos[k] as TensorInfo;
    const group = stateDict.param_groups[g] as ParamGroupEntry;
    const shape = shapeOf(info);
    const expAvg = readValues(entry.exp_avg, info.numel, `state.${key}.exp_avg`, SAVE_FIX);
    const expAvgSq = readValues(entry.exp_avg_sq, info.numel, `state.${key}.exp_avg_sq`, SAVE_FIX);
    const prefix = `state.${k}`;
    if (layout === 'optimi') {
      tensors.set(`${prefix}.exp_avg`, encodeTensor(expAvg, info.dtype, shape));
      tensors.set(`${prefix}.exp_avg_sq`, encodeTensor(expAvgSq, info.dtype, shape));
      if (entry.kahan_comp != null) {
        const kahan = readValues(entry.kahan_comp, info.numel, `state.${key}.kahan_comp`, SAVE_FIX);
        tensors.set(`${prefix}.kahan_comp`, encodeTensor(kahan, info.dtype, shape));
      }
      tensors.set(`${prefix}.eps_sq`, encodeTensor([group.eps * group.eps], info.dtype, []));
      if (entry.step !== undefined) tensors.set(`${prefix}.step`, scalar('I64', entry.step));
    } else {
      const t = group.gradient_release && entry.step !== undefined ? entry.step : group.step;
      tensors.set(`${prefix}.step`, scalar('F32', t));
      tensors.set(`${prefix}.exp_avg`, encodeTensor(scaled(expAvg, 1 - group.beta1 ** t), info.dtype, shape));
      tensors.set(`${prefix}.exp_avg_sq`, encodeTensor(scaled(expAvgSq, 1 - group.beta2 ** t), info.dtype, shape));
    }
  }
  if (options.params !== undefined) {
    if (options.params.length !== infos.length) {
      throw new StateDictError(
        'params',
        `has ${options.params.length} entries but the groups hold ${infos.length} params`,
        SAVE_FIX,
      );
    }
    options.params.forEach((values, k) => {
      const info = infos[k] as TensorInfo;
      const checked = readValues(values, info.numel, `params[${k}]`, 'Pass each param’s values, in the groups’ order.');
      tensors.set(`params.${names[k] ?? k}`, encodeTensor(checked, info.dtype, shapeOf(info)));
    });
  }

  const table = Object.fromEntries(names.flatMap((name, k) => (name === undefined ? [] : [[name, k]])));
  const extras = {
    ...(stateDict.skipped_steps === undefined ? {} : { skipped_steps: stateDict.skipped_steps }),
    ...(stateDict.loss_scaler === undefined ? {} : { loss_scaler: stateDict.loss_scaler }),
    groups: stateDict.param_groups.map((group) => ({
      ...(group.non_finite === undefined ? {} : { non_finite: group.non_finite }),
      // torch counts steps per param; steps without gradients still advance the group's counter.
      ...(layout === 'torch-adamw' ? { kahan_sum: group.kahan_sum, step: group.step } : {}),
    })),
  };
  return writeSafetensors(tensors, {
    ...options.metadata,
    format: 'pt',
    layout,
    param_groups: JSON.stringify(groups),
    ...(Object.keys(table).length > 0 ? { param_names: JSON.stringify(table) } : {}),
    stable_adamw: JSON.stringify(extras),
  });
}

// ---------------------------------------------------------------------------------------------
// Loading

function parseJsonMeta(metadata: Record<string, string>, key: string): unknown {
  const text = metadata[key];
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw new StateDictError(`__metadata__.${key}`, `is not JSON: ${JSON.stringify(text.slice(0, 40))}`, LOAD_FIX);
  }
}

function requireNumber(group: Record<string, unknown>, key: string, path: string, fallback?: number | null): number | null {
  const value = group[key];
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value === 'number' || (value === null && fallback === null)) return value;
  throw new StateDictError(`${path}.${key}`, `is ${formatValue(value)}, not a number`, LOAD_FIX);
}

function requireBoolean(group: Record<string, unknown>, key: string, path: string, fallback: boolean | null): boolean | null {
  const value = group[key];
  if (value === undefined) return fallback;
  if (typeof value === 'boolean' || (value === null && fallback === null)) return value;
  throw new StateDictError(`${path}.${key}`, `is ${formatValue(value)}, not a boolean`, LOAD_FIX);
}

/** A step count stored as a scalar tensor (I64, F32 or F64). */
function stepOf(tensor: SafetensorsTensor, path: string): number {
  const values = decodeTensor(tensor);
  const t = values[0];
  if (values.length !== 1 || t === undefined || !Number.isSafeInteger(t) || t < 0) {
    throw new StateDictError(path, `is ${formatValue(Array.from(values))}, not one non-negative integer`, LOAD_FIX);
  }
  return t;
}

/** The state tensors of one saved param, by key. */
type SavedState = Map<string, SafetensorsTensor>;

interface SavedGroup {
  readonly raw: Record<string, unknown>;
  readonly params: number[];
}

function parseSavedGroups(metadata: Record<string, string>): SavedGroup[] {
  const groups = parseJsonMeta(metadata, 'param_groups');
  if (!Array.isArray(groups)) {
    throw new StateDictError('__metadata__.param_groups', `is ${formatValue(groups)}, not a JSON array of groups`, LOAD_FIX);
  }
  const seen = new Set<number>();
  return groups.map((raw, g) => {
    const path = `__metadata__.param_groups[${g}]`;
    if (!isRecord(raw) || !Array.isArray(raw.params)) {
      throw new StateDictError(path, 'is not an object with a `params` list', LOAD_FIX);
    }
    const params = raw.params.map((id) => {
      if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0 || seen.has(id)) {
        throw new StateDictError(`${path}.params`, `holds an invalid or repeated param index ${formatValue(id)}`, LOAD_FIX);
      }
      seen.add(id);
      return id;
    });
    return { raw, params };
  });
}

/** Splits `state.<i>.<key>` and `params.<name>` tensors; anything else is refused. */
function splitTensors(tensors: ReadonlyMap<string, SafetensorsTensor>): {
  states: Map<number, SavedState>;
  params: Map<string, SafetensorsTensor>;
} {
  const states = new Map<number, SavedState>();
  const params = new Map<string, SafetensorsTensor>();
  for (const [name, tensor] of tensors) {
    const match = /^state\.(\d+)\.(.+)$/.exec(name);
    if (match) {
      const index = Number(match[1]);
      const state = states.get(index) ?? new Map<string, SafetensorsTensor>();
      state.set(match[2] as string, tensor);
      states.set(index, state);
    } else if (name.startsWith('params.')) {
      params.set(name.slice('params.'.length), tensor);
    } else {
      throw new StateDictError(name, 'is neither a `state.<index>.<key>` nor a `params.<name>` tensor', LOAD_FIX);
    }
  }
  return { states, params };
}

/** Saved index → target flat index, by name when both sides name every param, else by position. */
function targetIndices(
  saved: readonly SavedGroup[],
  options: LoadCheckpointOptions,
  nameTable: Record<string, unknown> | undefined,
): Map<number, number> {
  const mapping = new Map<number, number>();
  if (!options.groups) {
    for (const group of saved) for (const id of group.params) mapping.set(id, mapping.size);
    return mapping;
  }
  const target = options.groups;
  if (target.length !== saved.length) {
    throw new StateDictError(
      '__metadata__.param_groups',
      `has ${saved.length} groups but the optimizer has ${target.length}`,
      'Construct the optimizer with the same param groups as the one that was saved.',
    );
  }
  const names = resolveNames(target.flat(), options.names);
  const byName = nameTable !== undefined && names.every((name) => name !== undefined);
  let flat = 0;
  target.forEach((infos, g) => {
    const savedGroup = saved[g] as SavedGroup;
    if (savedGroup.params.length !== infos.length) {
      throw new StateDictError(
        `__metadata__.param_groups[${g}].params`,
        `lists ${savedGroup.params.length} params but the optimizer's group has ${infos.length}`,
        'Construct the optimizer with the same param groups as the one that was saved.',
      );
    }
    infos.forEach((_, k) => {
      let id = savedGroup.params[k] as number;
      if (byName) {
        const name = names[flat] as string;
        const named = (nameTable as Record<string, unknown>)[name];
        if (typeof named !== 'number' || !savedGroup.params.includes(named) || mapping.has(named)) {
          throw new StateDictError(
            '__metadata__.param_names',
            `has no param ${JSON.stringify(name)} in group ${g} (it maps to ${formatValue(named)})`,
            'Name the params as when the checkpoint was saved, or pass names: [] to load by position.',
          );
        }
        id = named;
      }
      mapping.set(id, flat++);
    });
  });
  return mapping;
}

interface LoadedGroup {
  entry: Omit<ParamGroupEntry, 'step' | 'params'>;
  beta1: number;
  beta2: number;
  /** torch AdamW state holds max_exp_avg_sq, refused below. */
  amsgrad: boolean;
}

function loadGroup(
  layout: CheckpointLayout,
  raw: Record<string, unknown>,
  g: number,
  extras: Record<string, unknown>,
): LoadedGroup {
  const path = `__metadata__.param_groups[${g}]`;
  const extraGroup = Array.isArray(extras.groups) && isRecord(extras.groups[g]) ? extras.groups[g] : {};
  const nonFinite = extraGroup.non_finite;
  const common = {
    lr: requireNumber(raw, 'lr', path) as number,
    eps: requireNumber(raw, 'eps', path) as number,
    weight_decay: requireNumber(raw, 'weight_decay', path) as number,
    ...(typeof nonFinite === 'string' ? { non_finite: nonFinite as ParamGroupEntry['non_finite'] } : {}),
  };
  if (layout === 'optimi') {
    const beta1 = requireNumber(raw, 'beta1', path) as number;
    const beta2 = requireNumber(raw, 'beta2', path) as number;
    const entry = {
      ...common,
      beta1,
      beta2,
      decouple_lr: requireBoolean(raw, 'decouple_lr', path, false) as boolean,
      max_lr: requireNumber(raw, 'max_lr', path, null),
      kahan_sum: requireBoolean(raw, 'kahan_sum', path, null),
      gradient_release: requireBoolean(raw, 'gradient_release', path, false) as boolean,
    };
    return { entry, beta1, beta2, amsgrad: false };
  }
  const betas = raw.betas;
  if (!Array.isArray(betas) || betas.length !== 2 || typeof betas[0] !== 'number' || typeof betas[1] !== 'number') {
    throw new StateDictError(`${path}.betas`, `is ${formatValue(betas)}, not [beta1, beta2]`, LOAD_FIX);
  }
  if (requireBoolean(raw, 'maximize', path, false)) {
    throw new StateDictError(
      `${path}.maximize`,
      'is true, which StableAdamW has no equivalent for',
      'Negate the loss instead and save from torch.optim.AdamW(..., maximize=False).',
    );
  }
  const kahan = extraGroup.kahan_sum;
  const entry = {
    ...common,
    beta1: betas[0],
    beta2: betas[1],
    decouple_lr: false,
    max_lr: null,
    kahan_sum: typeof kahan === 'boolean' ? kahan : null,
    gradient_release: false,
  };
  return { entry, beta1: betas[0], beta2: betas[1], amsgrad: requireBoolean(raw, 'amsgrad', path, false) as boolean };
}

/**
 * The group step this library saved beside a torch-adamw checkpoint (0 when absent or invalid);
 * the loader takes the larger of it and the per-param steps, so a file torch stepped further wins.
 */
function savedGroupStep(extras: Record<string, unknown>, g: number): number {
  const group = Array.isArray(extras.groups) && isRecord(extras.groups[g]) ? extras.groups[g] : {};
  const step = group.step;
  return typeof step === 'number' && Number.isSafeInteger(step) && step >= 0 ? step : 0;
}

const OPTIMI_KEYS = new Set(['exp_avg', 'exp_avg_sq', 'kahan_comp', 'step', 'eps_sq', 'mean_square']);
const TORCH_KEYS = new Set(['exp_avg', 'exp_avg_sq', 'step']);

/** Converts one saved param's tensors into a state-dict entry (debiasing torch's moments). */
function loadState(
  layout: CheckpointLayout,
  state: SavedState,
  id: number,
  numel: number | undefined,
  group: LoadedGroup,
  perParamSteps: boolean,
  typedValues: boolean,
): { entry: ParamStateEntry; step: number | undefined } {
  const path = `state.${id}`;
  // Typed values go into the entry as they are; loadStateDict validates typed arrays too.
  const serialize = typedValues ? (values: Float64Array) => values as unknown as ParamStateEntry['exp_avg'] : serializeValues;
  for (const key of state.keys()) {
    if (key === 'max_exp_avg_sq') {
      throw new StateDictError(
        `${path}.max_exp_avg_sq`,
        'is AMSGrad state, which StableAdamW has no equivalent for',
        'Save from torch.optim.AdamW(..., amsgrad=False).',
      );
    }
    if (!(layout === 'optimi' ? OPTIMI_KEYS : TORCH_KEYS).has(key)) {
      throw new StateDictError(`${path}.${key}`, `is not part of the '${layout}' layout`, LOAD_FIX);
    }
  }
  if (group.amsgrad) {
    throw new StateDictError(
      `${path}`,
      'belongs to a group with amsgrad=True, which StableAdamW has no equivalent for',
      'Save from torch.optim.AdamW(..., amsgrad=False).',
    );
  }
  const moment = (key: string): Float64Array => {
    const tensor = state.get(key);
    if (!tensor || storageDtype(tensor.dtype) === undefined) {
      throw new StateDictError(
        `${path}.${key}`,
        tensor ? `has dtype ${tensor.dtype}, not a float dtype` : 'is missing',
        LOAD_FIX,
      );
    }
    const values = decodeTensor(tensor);
    const expected = numel ?? state.get('exp_avg')?.data.length;
    if (values.length !== expected) {
      throw new StateDictError(`${path}.${key}`, `has ${values.length} elements but the param has ${expected}`, LOAD_FIX);
    }
    return values;
  };
  const stepTensor = state.get('step');
  const step = stepTensor === undefined ? undefined : stepOf(stepTensor, `${path}.step`);
  if (layout === 'optimi') {
    const kahan = state.has('kahan_comp') ? serialize(moment('kahan_comp')) : null;
    return {
      entry: {
        exp_avg: serialize(moment('exp_avg')),
        exp_avg_sq: serialize(moment('exp_avg_sq')),
        kahan_comp: kahan,
        ...(step === undefined ? {} : { step }),
      },
      step,
    };
  }
  if (step === undefined) throw new StateDictError(`${path}.step`, 'is missing', LOAD_FIX);
  const c1 = 1 - group.beta1 ** step;
  const c2 = 1 - group.beta2 ** step;
  const debias = (values: Float64Array, c: number) => serialize(step === 0 ? values.fill(0) : values.map((x) => x / c));
  return {
    entry: {
      exp_avg: debias(moment('exp_avg'), c1),
      exp_avg_sq: debias(moment('exp_avg_sq'), c2),
      kahan_comp: null,
      ...(perParamSteps ? { step } : {}),
    },
    step,
  };
}

function decodeParam(tensor: SafetensorsTensor, name: string): CheckpointParamValues {
  const dtype = storageDtype(tensor.dtype);
  if (dtype === undefined) throw new StateDictError(`params.${name}`, `has dtype ${tensor.dtype}, not a float dtype`, LOAD_FIX);
  return { dtype, shape: tensor.shape, values: decodeTensor(tensor) };
}

/**
 * Reads a safetensors checkpoint written in `layout` (by this library or by PyTorch through
 * `python/stable_adamw_checkpoint.py`) into a state dict for `optimizer.loadStateDict`. With
 * `groups` (the target optimizer's params), params are matched by name when both sides name every
 * param, else by position, and element counts are checked. An adapter's `loadCheckpoint` is
 * `this.loadStateDict(checkpointToStateDict(bytes, { layout, groups }).stateDict)`.
 *
 * @throws StateDictError (and returns nothing) when the file is not valid safetensors, was saved in
 * another layout, its groups or params do not match `groups`, a tensor is missing or misshapen, or
 * it holds state StableAdamW cannot take (AMSGrad, `maximize`, params of one group at different
 * steps without `gradientRelease`).
 */
export function checkpointToStateDict(bytes: Uint8Array, options: LoadCheckpointOptions): LoadedCheckpoint {
  const layout = checkLayout(options.layout);
  const file = readSafetensors(bytes);
  const metadata = file.metadata ?? {};
  if (metadata.layout !== layout) {
    const saved = metadata.layout;
    throw new StateDictError(
      '__metadata__.layout',
      `is ${formatValue(saved)}, but layout '${layout}' was asked for`,
      saved === 'optimi' || saved === 'torch-adamw' ? `Load it with { layout: '${saved}' }.` : LOAD_FIX,
    );
  }
  const saved = parseSavedGroups(metadata);
  const nameTable = parseJsonMeta(metadata, 'param_names');
  if (nameTable !== undefined && !isRecord(nameTable)) {
    throw new StateDictError('__metadata__.param_names', 'is not a JSON object of name → index', LOAD_FIX);
  }
  const extrasRaw = parseJsonMeta(metadata, 'stable_adamw') ?? {};
  const extras = isRecord(extrasRaw) ? extrasRaw : {};
  const { states, params } = splitTensors(file.tensors);
  const mapping = targetIndices(saved, options, nameTable);
  const infos = options.groups?.flat();
  const groupOf = new Map<number, number>();
  saved.forEach((group, g) => {
    for (const id of group.params) groupOf.set(id, g);
  });

  const groups = saved.map((group, g) => loadGroup(layout, group.raw, g, extras));
  const state: [number, ParamStateEntry][] = [];
  const groupSteps: number[][] = saved.map(() => []);
  const firstWithStep: (number | undefined)[] = saved.map(() => undefined);
  for (const [id, tensors] of states) {
    const target = mapping.get(id);
    const g = groupOf.get(id);
    if (target === undefined || g === undefined) {
      throw new StateDictError(`state.${id}`, 'refers to a param index that no param group lists', LOAD_FIX);
    }
    const { entry, step } = loadState(
      layout,
      tensors,
      id,
      infos?.[target]?.numel,
      groups[g] as LoadedGroup,
      options.gradientRelease === true,
      options.typedValues === true,
    );
    if (layout === 'torch-adamw' && step !== undefined) {
      const steps = groupSteps[g] as number[];
      if (!options.gradientRelease && steps.length > 0 && steps[0] !== step) {
        throw new StateDictError(
          `state.${id}.step`,
          `is ${step} but state.${firstWithStep[g]}.step is ${steps[0]}: torch AdamW counts steps per param, StableAdamW per group`,
          'Load into an optimizer with gradientRelease: true and pass { gradientRelease: true }, or save after every param has had the same number of steps.',
        );
      }
      if (steps.length === 0) firstWithStep[g] = id;
      steps.push(step);
    }
    state.push([target, entry]);
  }

  let offset = 0;
  const paramGroups: ParamGroupEntry[] = saved.map((group, g) => {
    const loaded = groups[g] as LoadedGroup;
    const steps = groupSteps[g] as number[];
    const step =
      layout === 'optimi'
        ? ((requireNumber(group.raw, 'step', `__metadata__.param_groups[${g}]`, 0) as number) ?? 0)
        : Math.max(0, ...steps, savedGroupStep(extras, g));
    const params = group.params.map(() => offset++);
    return {
      ...loaded.entry,
      ...(layout === 'torch-adamw' && options.gradientRelease ? { gradient_release: true } : {}),
      step,
      params,
    };
  });

  const savedNames = new Map<number, string>();
  for (const [name, id] of Object.entries(nameTable ?? {})) if (typeof id === 'number') savedNames.set(id, name);
  const decoded = new Map<string, CheckpointParamValues>();
  for (const [name, tensor] of params) decoded.set(name, decodeParam(tensor, name));
  const paramValues: (CheckpointParamValues | undefined)[] = infos ? infos.map(() => undefined) : [];
  if (infos) {
    for (const [id, target] of mapping) paramValues[target] = decoded.get(savedNames.get(id) ?? String(id));
  }

  const stateDict: StateDict = {
    state: Object.fromEntries(state.sort((a, b) => a[0] - b[0])),
    param_groups: paramGroups,
    ...(typeof extras.skipped_steps === 'number' ? { skipped_steps: extras.skipped_steps } : {}),
    ...(isRecord(extras.loss_scaler) ? { loss_scaler: extras.loss_scaler as unknown as StateDict['loss_scaler'] } : {}),
  };
  return { stateDict, params: decoded, paramValues, metadata };
}
