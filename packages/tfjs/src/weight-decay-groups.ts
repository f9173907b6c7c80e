import type { ParamGroupInput, WeightDecayGroupOptions } from '@stable-adamw/core';
import { paramGroupsWeightDecay as splitByName } from '@stable-adamw/core/adapter';
import type * as tf from '@tensorflow/tfjs-core';
import { targetVariables, type VariablesTarget } from './targets.js';

/**
 * optimi's `param_groups_weight_decay` for tfjs: biases (names ending in `bias`, like
 * `dense_Dense1/bias`), 0-D and 1-D variables (norm scales) and names containing one of
 * `additionalLayers` go to a group with `weightDecay: 0`, the rest get `weightDecay` (default
 * `1e-2`). Takes a tfjs-layers model (its `trainableWeights`, by their layer names) or `tf.Variable`s
 * (by `variable.name`; non-trainable ones are left out). The groups go to `new StableAdamW(groups, options)`.
 *
 * @example
 * ```ts
 * const optimizer = new StableAdamW(paramGroupsWeightDecay(model, { weightDecay: 0.05 }), { lr: 1e-3 });
 * model.compile({ optimizer, loss: 'meanSquaredError' });
 * ```
 */
export function paramGroupsWeightDecay(
  target: VariablesTarget,
  options?: WeightDecayGroupOptions,
): ParamGroupInput<tf.Variable>[] {
  const named = targetVariables(target, 'target').map(({ name, variable }) => ({
    name,
    shape: variable.shape,
    param: variable,
  }));
  return splitByName(named, options);
}
