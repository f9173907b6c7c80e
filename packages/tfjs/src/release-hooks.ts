import { InvalidParamError } from '@stable-adamw/core';
import * as tf from '@tensorflow/tfjs-core';
import type { StableAdamW } from './stable-adamw.js';

/** How often a variable was read in the forward pass, and where its first read sits on the tape. */
interface Reads {
  remaining: number;
  firstTapeIndex: number;
}

/** One `minimize` call: the forward pass's reads and the gradients they still wait for. */
interface Pass {
  readonly active: ReadonlySet<tf.Variable>;
  readonly reads: Map<tf.Variable, Reads>;
  /** Partial sums for variables read more than once (weight sharing), kept until their last hook. */
  readonly pending: Map<tf.Variable, tf.Tensor>;
}

/**
 * Frees the tape's saved copies of `variable`'s current value made at or after its first read.
 * Backprop has already passed all of those ops, but tfjs frees saved tensors only when it ends;
 * without this, the old value of every stepped variable would stay alive next to the new one.
 */
function releaseSavedCopies(variable: tf.Variable, fromIndex: number): void {
  const { state } = tf.engine();
  // Inside an outer tf.grads the tape belongs to it and its saved tensors are still needed.
  if (state.gradientDepth !== 0 || !state.activeTape) return;
  for (const node of state.activeTape.slice(fromIndex)) {
    for (const saved of node.saved ?? []) if (saved.dataId === variable.dataId) saved.dispose();
  }
}

/**
 * The backprop side of gradient release. A hooked read is a `tf.customGrad` identity of
 * (variable, anchor): `minimize` differentiates the loss with respect to the tiny anchor only, so
 * tfjs prunes the variables from the tape and never builds a gradient per variable; the identity's
 * gradient function receives the variable's gradient, steps the variable and frees it at once.
 */
export class ReleaseHooks {
  readonly #optimizer: StableAdamW;
  readonly #variables: Set<tf.Variable>;
  readonly #anchor: tf.Scalar;
  readonly #hooked: (variable: tf.Variable, anchor: tf.Scalar) => tf.Tensor;
  #pass: Pass | undefined;

  constructor(optimizer: StableAdamW, variables: readonly tf.Variable[]) {
    this.#optimizer = optimizer;
    this.#variables = new Set(variables);
    this.#anchor = tf.keep(tf.scalar(0));
    this.#hooked = tf.customGrad((variable, anchor) => ({
      value: tf.clone(variable as tf.Variable),
      gradFunc: (dy: tf.Tensor) => {
        this.#receive(variable as tf.Variable, dy);
        // The variable is not differentiated (not on the tape's path), so its slot gets a scalar.
        const none = tf.zerosLike(anchor as tf.Scalar);
        return [none, none];
      },
    })) as unknown as (variable: tf.Variable, anchor: tf.Scalar) => tf.Tensor;
  }

  /** The hooked read inside `minimize` of a variable it trains; the variable itself elsewhere. */
  read(variable: tf.Variable): tf.Tensor {
    if (!this.#variables.has(variable)) {
      throw new InvalidParamError(
        variable?.name ?? String(variable),
        'is not prepared for gradient release',
        'Read only the variables passed to prepareForGradientRelease (and not after removeGradientRelease).',
      );
    }
    const pass = this.#pass;
    if (!pass?.active.has(variable)) return variable;
    const reads = pass.reads.get(variable);
    if (reads) reads.remaining += 1;
    else pass.reads.set(variable, { remaining: 1, firstTapeIndex: tf.engine().state.activeTape?.length ?? 0 });
    return this.#hooked(variable, this.#anchor);
  }

  /** One training step: `f`'s backprop steps each variable it reads (see `StableAdamW.minimize`). */
  minimize(f: () => tf.Scalar, returnCost: boolean, varList: readonly tf.Variable[] | undefined): tf.Scalar | null {
    if (this.#pass) {
      throw new InvalidParamError(
        'minimize',
        'was called while a gradient-release step is running',
        'Call minimize once per training step, not from inside its f.',
      );
    }
    const pass: Pass = { active: this.#activeVariables(varList), reads: new Map(), pending: new Map() };
    this.#pass = pass;
    let cost: tf.Scalar;
    try {
      const { value, grads } = tf.engine().gradients(f, [this.#anchor], undefined, true);
      tf.dispose(grads.filter((g) => g != null));
      cost = value;
      if (pass.reads.size === 0) {
        cost.dispose();
        throw new InvalidParamError(
          'minimize',
          'got an f that reads none of the gradient-release variables, so nothing can be updated',
          'Run the model inside f, or read plain variables with the read() accessor of prepareForGradientRelease.',
        );
      }
      // Variables read more than once where some reads did not reach the loss: their sum is complete.
      for (const [variable, grad] of pass.pending) {
        pass.pending.delete(variable);
        try {
          this.#optimizer.stepParam(variable, grad);
        } finally {
          grad.dispose();
        }
      }
    } finally {
      this.#pass = undefined;
      tf.dispose([...pass.pending.values()]);
    }
    if (returnCost) return cost;
    cost.dispose();
    return null;
  }

  /** Frees the anchor; later reads of the variables throw. */
  dispose(): void {
    this.#variables.clear();
    this.#anchor.dispose();
  }

  #activeVariables(varList: readonly tf.Variable[] | undefined): Set<tf.Variable> {
    if (!varList) return new Set([...this.#variables].filter((v) => v.trainable));
    for (const [i, variable] of varList.entries()) {
      if (!this.#variables.has(variable)) {
        throw new InvalidParamError(
          `varList[${i}] (${variable?.name})`,
          'is not prepared for gradient release',
          'Prepare it with prepareForGradientRelease, or leave it out of varList.',
        );
      }
    }
    return new Set(varList.filter((v) => v.trainable));
  }

  #receive(variable: tf.Variable, dy: tf.Tensor): void {
    const pass = this.#pass as Pass;
    const reads = pass.reads.get(variable) as Reads;
    reads.remaining -= 1;
    const partial = pass.pending.get(variable);
    let grad = dy;
    if (partial) {
      grad = tf.add(partial, dy);
      tf.dispose([partial, dy]);
    }
    if (reads.remaining > 0) {
      pass.pending.set(variable, tf.keep(grad));
      return;
    }
    pass.pending.delete(variable);
    releaseSavedCopies(variable, reads.firstTapeIndex);
    try {
      this.#optimizer.stepParam(variable, grad);
    } finally {
      // Nothing reads this node's incoming gradient after its own gradient function.
      grad.dispose();
    }
  }
}
