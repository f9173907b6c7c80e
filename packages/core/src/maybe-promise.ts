import type { MaybePromise } from './contract.js';

/**
 * Runs `fn` on a value that may still be pending: synchronously for a plain value, after it
 * resolves for a promise. One code path then serves synchronous backends (no microtask per call)
 * and asynchronous ones (WebGPU, gpu.js async modes).
 */
export function andThen<T, U>(value: MaybePromise<T>, fn: (resolved: T) => MaybePromise<U>): MaybePromise<U> {
  return value instanceof Promise ? value.then(fn) : fn(value);
}

/** Waits for every result that is pending; synchronous when none is. */
export function settle<T>(results: readonly MaybePromise<T>[]): MaybePromise<T[]> {
  return results.some((r) => r instanceof Promise) ? Promise.all(results) : (results as T[]);
}

/**
 * Keeps a pending result for later awaiting without letting an early rejection surface as an
 * unhandled rejection; whoever awaits it later still sees the error.
 */
export function keepPending<T>(value: MaybePromise<T>): MaybePromise<T> {
  if (value instanceof Promise) value.catch(() => undefined);
  return value;
}
