import { InvalidHyperparameterError, InvalidParamError } from './errors.js';
import type { ParamGroupInput } from './param-groups.js';

/** A param with what `paramGroupsWeightDecay` needs to know about it. */
export interface NamedParam<P> {
  readonly name: string;
  readonly shape: readonly number[];
  readonly param: P;
}

/**
 * How biases are recognised by name: `'optimi'`, names ending in `.bias`; `'tfjs'`, a last `/`
 * segment `bias`, `gamma` or `beta` (tfjs-layers' `dense_Dense1/bias`, optional `_N` suffix).
 */
export type WeightDecayNaming = 'optimi' | 'tfjs';

export interface WeightDecayGroupOptions {
  /** Weight decay of the decayed group. Default `1e-2`, as optimi. */
  weightDecay?: number;
  /** Names containing any of these substrings are not decayed; a string is one name (optimi: letters). */
  additionalLayers?: string | readonly string[];
  /** Default `'optimi'`. */
  naming?: WeightDecayNaming;
}

const BIAS_NAME: Record<WeightDecayNaming, RegExp> = {
  optimi: /\.bias$/,
  tfjs: /(^|\/)(bias|gamma|beta)(_\d+)?$/,
};

function layerNames(value: unknown): readonly string[] {
  if (value === undefined) return [];
  if (typeof value === 'string') return [value];
  if (Array.isArray(value) && value.every((layer) => typeof layer === 'string')) return value;
  throw new InvalidHyperparameterError(
    'additionalLayers',
    value,
    'must be a string or an array of strings',
    "Pass name substrings, e.g. ['norm', 'embed'].",
  );
}

/**
 * optimi's `param_groups_weight_decay`: 0-D/1-D tensors, biases by name and names containing one
 * of `additionalLayers` get `weightDecay: 0`, the rest `weightDecay`. Always optimi's two groups
 * `[noDecay, decay]`, one possibly empty.
 */
export function paramGroupsWeightDecay<P>(
  namedParams: Iterable<NamedParam<P>>,
  { weightDecay = 1e-2, additionalLayers, naming = 'optimi' }: WeightDecayGroupOptions = {},
): [ParamGroupInput<P>, ParamGroupInput<P>] {
  if (typeof weightDecay !== 'number' || !Number.isFinite(weightDecay) || weightDecay < 0) {
    throw new InvalidHyperparameterError('weightDecay', weightDecay, 'must be a finite number ≥ 0', 'Use e.g. 1e-2.');
  }
  if (naming !== 'optimi' && naming !== 'tfjs') {
    throw new InvalidHyperparameterError(
      'naming',
      naming,
      "must be 'optimi' or 'tfjs'",
      "Use 'tfjs' for tfjs-layers names (dense/bias), or leave it out.",
    );
  }
  const biasName = BIAS_NAME[naming];
  const layers = layerNames(additionalLayers);
  const noDecay: P[] = [];
  const decay: P[] = [];
  for (const { name, shape, param } of namedParams) {
    const skip = shape.length <= 1 || biasName.test(name) || layers.some((layer) => name.includes(layer));
    (skip ? noDecay : decay).push(param);
  }
  return [
    { params: noDecay, weightDecay: 0 },
    { params: decay, weightDecay },
  ];
}

/** A param that carries its own name and logical shape, as the cpu and gpu.js adapters' params do. */
export interface ShapedParam {
  readonly name?: string;
  readonly shape?: readonly number[];
}

/**
 * `paramGroupsWeightDecay` for params that carry their own `name` and `shape` (the cpu and gpu.js
 * adapters' params). Every param needs a `shape`, since a flat array cannot tell a matrix from a
 * norm scale, and should have a `name`.
 */
export function shapedParamGroupsWeightDecay<P extends ShapedParam>(
  params: readonly P[],
  options?: WeightDecayGroupOptions,
): [ParamGroupInput<P>, ParamGroupInput<P>] {
  if (!Array.isArray(params)) {
    throw new InvalidParamError('params', `is ${String(params)}, not an array`, 'Pass the array of params, e.g. [weight, bias].');
  }
  const named = params.map((param: P, i) => {
    if (!Array.isArray(param?.shape)) {
      throw new InvalidParamError(
        `params[${i}]${param?.name ? ` (${param.name})` : ''}`,
        'has no shape',
        'Set shape, e.g. [out, in] for a weight matrix.',
      );
    }
    return { name: param.name ?? '', shape: param.shape, param };
  });
  return paramGroupsWeightDecay(named, options);
}
