import type { MaybePromise } from '@stable-adamw/core';
import { andThen } from '@stable-adamw/core/adapter';
import { deleteDeviceTensor, type GpuJsTensor } from './tensor.js';

/**
 * The tensors one step has made so far. A step writes only fresh tensors (gpu.js kernels are
 * `immutable`) and swaps them in at the end, so a step that fails part-way is undone by freeing
 * what it made: params and state still hold their old tensors.
 */
export class Transaction {
  readonly #made = new Set<GpuJsTensor>();

  /** Records a tensor this step made. */
  made<T extends GpuJsTensor>(tensor: T): T {
    this.#made.add(tensor);
    return tensor;
  }

  /** Frees a tensor this step made and no longer needs (an intermediate); others are left alone. */
  free(tensor: GpuJsTensor): void {
    if (this.#made.delete(tensor)) deleteDeviceTensor(tensor);
  }

  /** The step succeeded: frees its intermediates, leaving `kept` (handed over to the optimizer) alive. */
  finish(kept: readonly (GpuJsTensor | null)[]): void {
    for (const tensor of kept) if (tensor) this.#made.delete(tensor);
    this.rollback();
  }

  /** Frees everything this step made: the step failed. */
  rollback(): void {
    for (const tensor of this.#made) deleteDeviceTensor(tensor);
    this.#made.clear();
  }
}

/** Runs `run`, sending a synchronous throw or a rejection alike to `onError`. */
export function guarded<T>(run: () => MaybePromise<T>, onError: (error: unknown) => never): MaybePromise<T> {
  let result: MaybePromise<T>;
  try {
    result = run();
  } catch (error) {
    return onError(error);
  }
  return result instanceof Promise ? result.catch(onError) : result;
}

/** Runs `fn` on each item (and its index) in order, each after the previous one's result: synchronous when every result is. */
export function inOrder<T, U>(items: readonly T[], fn: (item: T, index: number) => MaybePromise<U>): MaybePromise<U[]> {
  const results: U[] = [];
  let chain = undefined as MaybePromise<void>;
  for (const [index, item] of items.entries()) {
    chain = andThen(chain, () =>
      andThen(fn(item, index), (result) => {
        results.push(result);
      }),
    );
  }
  return andThen(chain, () => results);
}
