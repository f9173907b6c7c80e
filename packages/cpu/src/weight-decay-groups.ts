import {
  InvalidParamError,
  type ParamGroupInput,
  paramGroupsWeightDecay as splitByName,
  type WeightDecayGroupOptions,
} from '@stable-adamw/core';
import type { CpuParam } from './param.js';

/**
 * optimi's `param_groups_weight_decay` for cpu params: biases, 1-D tensors and names matching
 * `additionalLayers` get `weightDecay: 0`. Every param needs a `shape` (a flat array cannot tell a
 * matrix from a norm scale) and should have a `name`.
 */
export function paramGroupsWeightDecay(
  params: readonly CpuParam[],
  options?: WeightDecayGroupOptions,
): ParamGroupInput<CpuParam>[] {
  const named = params.map((param, i) => {
    if (!param.shape) {
      throw new InvalidParamError(
        `params[${i}]${param.name ? ` (${param.name})` : ''}`,
        'has no shape',
        'Set shape, e.g. [out, in] for a weight matrix.',
      );
    }
    return { name: param.name ?? '', shape: param.shape, param };
  });
  return splitByName(named, options);
}
