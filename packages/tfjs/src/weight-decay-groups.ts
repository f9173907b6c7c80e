import type { ParamGroupInput, WeightDecayGroupOptions } from '@stable-adamw/core';
import { paramGroupsWeightDecay as splitByName } from '@stable-adamw/core/adapter';
import type * as tf from '@tensorflow/tfjs-core';
import { targetVariables, type VariablesTarget } from './targets.js';

/**
 * optimi's `param_groups_weight_decay` for tfjs: 0-D and 1-D variables (norm scales), names
 * containing one of `additionalLayers` (a string counts as one name) and, by tfjs's naming, biases
 * and norm parameters (a last `/` segment `bias`, `gamma` or `beta`, like `dense_Dense1/bias`) go
 * to a group with `weightDecay: 0`, the rest get `weightDecay` (default `1e-2`). Always returns
 * `[noDecay, decay]`, one of them possibly empty, as optimi does. Takes a tfjs-layers model (its
 * `trainableWeights`, by their layer names) or `tf.Variable`s (by `variable.name`; non-trainable
 * ones are left out). Pass `naming: 'optimi'` for PyTorch-style dotted names (`.bias` suffix).
 * The groups go to `new StableAdamW(groups, options)`.
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
  return splitByName(named, { naming: 'tfjs', ...options });
}
