import { InvalidParamError } from '@stable-adamw/core';
import type * as tf from '@tensorflow/tfjs-core';
import { ReleaseHooks } from './release-hooks.js';
import { optimizerInternals, type StableAdamW } from './stable-adamw.js';
import { type LayerVariableLike, type TargetVariable, targetVariables, type VariablesTarget } from './targets.js';

/** Gradient release prepared on a model or on variables (see `prepareForGradientRelease`). */
export interface GradientRelease {
  /** The optimizer that steps the variables. */
  readonly optimizer: StableAdamW;
  /** The variables updated during backprop, in the target's order. */
  readonly variables: readonly tf.Variable[];
  /**
   * How a forward pass reads a variable so that backprop updates it: inside `optimizer.minimize`
   * the hooked read, elsewhere the variable itself. A model's layers read this way by themselves;
   * with plain variables, use `read(v)` wherever the loss uses `v`.
   */
  read(variable: tf.Variable): tf.Tensor;
}

interface Prepared {
  readonly release: GradientRelease;
  readonly hooks: ReleaseHooks;
  readonly restoreReads: () => void;
}

const prepared = new WeakMap<tf.Variable, Prepared>();

/** Routes a LayerVariable's `read()` through the hooks; returns what puts the original back. */
function patchRead(layerVariable: LayerVariableLike, hooks: ReleaseHooks): () => void {
  const own = Object.getOwnPropertyDescriptor(layerVariable, 'read');
  const original = layerVariable.read;
  Object.defineProperty(layerVariable, 'read', {
    configurable: true,
    writable: true,
    value: () => hooks.read(original.call(layerVariable) as tf.Variable),
  });
  return () => {
    if (own) Object.defineProperty(layerVariable, 'read', own);
    else delete (layerVariable as { read?: unknown }).read;
  };
}

function checkOptimizer(optimizer: StableAdamW): void {
  if (!optimizerInternals.is(optimizer)) {
    throw new InvalidParamError(
      'optimizer',
      'is not a StableAdamW from @stable-adamw/tfjs',
      'Pass the StableAdamW that trains the variables, e.g. stableAdamW({ lr, gradientRelease: true }).',
    );
  }
  if (!optimizerInternals.gradientRelease(optimizer)) {
    throw new InvalidParamError(
      'optimizer',
      'was constructed without gradientRelease',
      'Construct it with { gradientRelease: true }, e.g. stableAdamW({ lr: 1e-3, gradientRelease: true }).',
    );
  }
  if (optimizerInternals.release(optimizer)) {
    throw new InvalidParamError(
      'optimizer',
      'already has gradient release prepared',
      'Call removeGradientRelease on the first target, or use one optimizer per target.',
    );
  }
}

function checkManaged(optimizer: StableAdamW, entries: readonly TargetVariable[]): void {
  // An optimizer that discovers its variables (stableAdamW(...)) and has not met any yet takes these.
  if (optimizer.paramGroups.length === 0) return;
  const managed = new Set(optimizer.paramGroups.flatMap((g) => g.params));
  for (const { name, variable } of entries) {
    if (!managed.has(variable)) {
      throw new InvalidParamError(
        name,
        'is not managed by this optimizer',
        'Construct the optimizer with this variable (or with stableAdamW(...) to take the model’s variables).',
      );
    }
  }
}

/**
 * Gradient release (optimi's `prepare_for_gradient_release`): each variable is updated with its
 * own gradient during backprop, as soon as that gradient is known, and the gradient is freed right
 * away, so the gradients of all variables are never alive at once. The optimizer must be built with
 * `gradientRelease: true`; each variable then has its own step counter and uses its group's current
 * hyperparameters. Setting `optimizer.accumulate = true` for all but the last micro-batch gives
 * optimizer accumulation (moments only, then a full update). With a `lossScaler`, `minimize`
 * multiplies the loss by the scale, each call divides its gradient by it, and the iteration ends
 * with core's `step()` without gradients, which backs the scale off if any call was skipped
 * (`nonFinite: 'skip'`) and grows it after `growthInterval` clean iterations.
 *
 * Training steps go through `optimizer.minimize(f)`, which `model.fit` and `model.trainOnBatch` of
 * a model compiled with this optimizer call. A model's trainable `LayerVariable`s have their
 * `read()` hooked; plain variables are read with the returned `read(v)` accessor. A variable read
 * several times in one forward pass (weight sharing) is stepped once, with the sum of its gradients.
 *
 * @param target a tfjs-layers model (its `trainableWeights`) or the variables to train.
 * @param optimizer the `StableAdamW` that manages them (or discovers them: `stableAdamW(...)`).
 * @throws InvalidParamError for an optimizer without `gradientRelease`, variables it does not
 *   manage, a target or optimizer already prepared, or an empty target; nothing is changed then.
 */
export function prepareForGradientRelease(target: VariablesTarget, optimizer: StableAdamW): GradientRelease {
  checkOptimizer(optimizer);
  const entries = targetVariables(target, 'target');
  if (entries.length === 0) {
    throw new InvalidParamError('target', 'has no trainable variables', 'Pass a built model or trainable tf.Variables.');
  }
  for (const { name, variable } of entries) {
    if (prepared.has(variable)) {
      throw new InvalidParamError(name, 'is already prepared for gradient release', 'Call removeGradientRelease first.');
    }
  }
  checkManaged(optimizer, entries);
  const variables = entries.map((e) => e.variable);
  if (optimizer.paramGroups.length === 0) optimizerInternals.adopt(optimizer, variables);
  const hooks = new ReleaseHooks(optimizer, variables);
  const restores = entries.flatMap(({ layerVariable }) => (layerVariable ? [patchRead(layerVariable, hooks)] : []));
  const release: GradientRelease = { optimizer, variables, read: (variable) => hooks.read(variable) };
  const entry: Prepared = {
    release,
    hooks,
    restoreReads: () => {
      for (const restore of restores) restore();
    },
  };
  for (const variable of variables) prepared.set(variable, entry);
  optimizerInternals.setRelease(optimizer, {
    minimize: (f, returnCost, varList) => hooks.minimize(f, returnCost, varList),
    remove: () => detach(entry),
  });
  return release;
}

function detach(entry: Prepared): void {
  entry.restoreReads();
  optimizerInternals.setRelease(entry.release.optimizer, undefined);
  entry.hooks.dispose();
  for (const variable of entry.release.variables) prepared.delete(variable);
}

/**
 * Undoes `prepareForGradientRelease` (optimi's `remove_gradient_release`): the model's reads are the
 * original ones again and `minimize` computes and applies gradients as usual. The optimizer's state
 * (moments, per-variable steps) is kept. Disposing the optimizer also removes it.
 *
 * @param target the model or variables given to `prepareForGradientRelease`, or its return value.
 * @throws InvalidParamError if `target` has no gradient release prepared, or is only part of one.
 */
export function removeGradientRelease(target: VariablesTarget | GradientRelease): void {
  const isHandle = typeof target === 'object' && target !== null && 'optimizer' in target && 'read' in target;
  const entries = isHandle ? undefined : targetVariables(target, 'target');
  const variables = entries?.map((e) => e.variable) ?? (target as GradientRelease).variables;
  const entry = variables[0] ? prepared.get(variables[0]) : undefined;
  if (!entry) {
    throw new InvalidParamError(
      'target',
      'has no gradient release prepared',
      'Pass the model or variables given to prepareForGradientRelease.',
    );
  }
  if (variables.length !== entry.release.variables.length || variables.some((v) => prepared.get(v) !== entry)) {
    throw new InvalidParamError(
      'target',
      'is not the set of variables gradient release was prepared on',
      'Pass the same model or variables given to prepareForGradientRelease.',
    );
  }
  detach(entry);
}
