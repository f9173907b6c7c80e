import { InvalidParamError } from '@stable-adamw/core';
import * as tf from '@tensorflow/tfjs-core';

/**
 * What gradient release and `paramGroupsWeightDecay` use of a tfjs-layers `LayerVariable`
 * (`model.trainableWeights`): its name and `read()`, which returns the `tf.Variable`.
 */
export interface LayerVariableLike {
  readonly name: string;
  read(): tf.Tensor;
}

/** A tfjs-layers model (`tf.LayersModel`, `tf.Sequential`), seen through its trainable weights. */
export interface LayersModelLike {
  readonly trainableWeights: readonly LayerVariableLike[];
}

/** A model, or the variables to train (read through the `read` accessor of gradient release). */
export type VariablesTarget = LayersModelLike | readonly tf.Variable[];

/** One trainable variable of a target, with the name its param groups see. */
export interface TargetVariable {
  readonly name: string;
  readonly variable: tf.Variable;
  /** The tfjs-layers wrapper the variable came from, if any. */
  readonly layerVariable?: LayerVariableLike;
}

function isLayersModel(target: unknown): target is LayersModelLike {
  return (
    typeof target === 'object' &&
    target !== null &&
    !Array.isArray(target) &&
    Array.isArray((target as LayersModelLike).trainableWeights)
  );
}

/**
 * The variables of a model (its `trainableWeights`) or of a variable list, in order. Throws an
 * `InvalidParamError` naming `where` for anything that is not a `tf.Variable`, or a variable listed
 * twice. A list's non-trainable variables are left out, as optimi skips params without gradients.
 */
export function targetVariables(target: VariablesTarget, where: string): TargetVariable[] {
  if (isLayersModel(target)) {
    return target.trainableWeights.map((layerVariable, i) => {
      const variable = typeof layerVariable?.read === 'function' ? layerVariable.read() : undefined;
      if (!(variable instanceof tf.Variable)) {
        throw new InvalidParamError(
          `${where}.trainableWeights[${i}]`,
          'is not a tfjs-layers LayerVariable holding a tf.Variable',
          'Pass a tf.LayersModel (e.g. tf.sequential(...)) or an array of tf.Variables.',
        );
      }
      return { name: layerVariable.name, variable, layerVariable };
    });
  }
  if (!Array.isArray(target)) {
    throw new InvalidParamError(
      where,
      `is ${target === null ? 'null' : typeof target}`,
      'Pass a tf.LayersModel (e.g. tf.sequential(...)) or an array of tf.Variables.',
    );
  }
  const seen = new Set<tf.Variable>();
  return target.flatMap((variable: unknown, i) => {
    if (!(variable instanceof tf.Variable)) {
      throw new InvalidParamError(`${where}[${i}]`, 'is not a tf.Variable', 'Pass tf.variable(...) instances.');
    }
    if (seen.has(variable)) {
      throw new InvalidParamError(`${where}[${i}] (${variable.name})`, 'appears twice', 'List each variable once.');
    }
    seen.add(variable);
    return variable.trainable ? [{ name: variable.name, variable }] : [];
  });
}
