import { InvalidHyperparameterError, InvalidParamError } from './errors.js';
import type { ParamGroupInput } from './param-groups.js';

/** A param with what `paramGroupsWeightDecay` needs to know about it. */
export interface NamedParam<P> {
  readonly name: string;
  readonly shape: readonly number[];
  readonly param: P;
}

export interface WeightDecayGroupOptions {
  /** Weight decay of the decayed group. Default `1e-2`, as optimi. */
  weightDecay?: number;
  /** Params whose name contains any of these substrings are not decayed (e.g. `['norm', 'embed']`). */
  additionalLayers?: readonly string[];
}

/** True for a bias by name: the last `.`- or `/`-separated segment is `bias` (PyTorch and tfjs naming). */
function isBiasName(name: string): boolean {
  return /(^|[./])bias$/.test(name);
}

/**
 * optimi's `param_groups_weight_decay`: biases, 0-D and 1-D tensors (norm scales) and params whose
 * name contains one of `additionalLayers` go to a group with `weightDecay: 0`; the rest get
 * `weightDecay`. Returns `[noDecay, decay]`, leaving out a group that would be empty.
 */
export function paramGroupsWeightDecay<P>(
  namedParams: Iterable<NamedParam<P>>,
  { weightDecay = 1e-2, additionalLayers = [] }: WeightDecayGroupOptions = {},
): ParamGroupInput<P>[] {
  if (typeof weightDecay !== 'number' || !Number.isFinite(weightDecay) || weightDecay < 0) {
    throw new InvalidHyperparameterError('weightDecay', weightDecay, 'must be a finite number ≥ 0', 'Use e.g. 1e-2.');
  }
  const noDecay: P[] = [];
  const decay: P[] = [];
  for (const { name, shape, param } of namedParams) {
    const skip = shape.length <= 1 || isBiasName(name) || additionalLayers.some((layer) => name.includes(layer));
    (skip ? noDecay : decay).push(param);
  }
  const groups: ParamGroupInput<P>[] = [];
  if (noDecay.length > 0) groups.push({ params: noDecay, weightDecay: 0 });
  if (decay.length > 0) groups.push({ params: decay, weightDecay });
  return groups;
}

/** A param that carries its own name and logical shape, as the cpu and gpu.js adapters' params do. */
export interface ShapedParam {
  readonly name?: string;
  readonly shape?: readonly number[];
}

/**
 * `paramGroupsWeightDecay` for params that carry their own `name` and `shape` (the cpu and gpu.js
 * adapters' params): biases, 0-D and 1-D tensors and names containing one of `additionalLayers`
 * get `weightDecay: 0`. Every param needs a `shape`, since a flat array cannot tell a matrix from a
 * norm scale, and should have a `name`.
 */
export function shapedParamGroupsWeightDecay<P extends ShapedParam>(
  params: readonly P[],
  options?: WeightDecayGroupOptions,
): ParamGroupInput<P>[] {
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
