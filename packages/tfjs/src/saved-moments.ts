import { type StateDict, StateDictError } from '@stable-adamw/core';
import type * as tf from '@tensorflow/tfjs-core';

/** Moments of one variable as restored by `setWeights`, keyed by the variable name they were saved under. */
export interface SavedMoments {
  expAvg: Float32Array;
  expAvgSq: Float32Array;
}

/**
 * Pairs saved moments with the optimizer's variables. By name when every saved name is one of
 * them; otherwise by position, as tfjs's own optimizers do, because a model reloaded in the same
 * process gets uniquified variable names (`dense/kernel_1`). Throws when neither pairing fits.
 */
export function matchSavedMoments(
  variables: readonly tf.Variable[],
  moments: ReadonlyMap<string, SavedMoments>,
): StateDict['state'] {
  const state: StateDict['state'] = {};
  const entry = (m: SavedMoments) => ({ exp_avg: Array.from(m.expAvg), exp_avg_sq: Array.from(m.expAvgSq), kahan_comp: null });
  const index = new Map(variables.map((v, i) => [v.name, i]));
  if ([...moments.keys()].every((name) => index.has(name))) {
    for (const [name, m] of moments) state[index.get(name) as number] = entry(m);
    return state;
  }
  const saved = [...moments.entries()];
  if (saved.length !== variables.length) {
    throw new StateDictError(
      'optimizer weights',
      `hold moments for ${saved.length} variables (${saved.map(([name]) => name).join(', ')}) but the optimizer has ${variables.length} whose names differ`,
      'Load the weights into a model with the same trainable variables as the one that saved them.',
    );
  }
  saved.forEach(([name, m], i) => {
    const v = variables[i] as tf.Variable;
    if (m.expAvg.length !== v.size || m.expAvgSq.length !== v.size) {
      throw new StateDictError(
        `${name}/exp_avg`,
        `has ${m.expAvg.length} values but variable ${i} (${v.name}) has ${v.size}`,
        'Load the weights into a model with the same trainable variables, in the same order, as the one that saved them.',
      );
    }
    state[i] = entry(m);
  });
  return state;
}
