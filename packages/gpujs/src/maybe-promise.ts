import type { MaybePromise } from '@stable-adamw/core';

/**
 * Runs `fn` on a value that may still be pending: synchronously for a plain value, after it
 * resolves for a promise. Lets one code path serve gpu.js's synchronous modes (no microtask per
 * kernel) and its promise-returning ones (webgpu, async mode).
 */
export function andThen<T, U>(value: MaybePromise<T>, fn: (resolved: T) => MaybePromise<U>): MaybePromise<U> {
  return value instanceof Promise ? value.then(fn) : fn(value);
}

/**
 * Keeps a pending result for later awaiting without letting an early rejection surface as an
 * unhandled rejection; whoever awaits it later still sees the error.
 */
export function keepPending<T>(value: MaybePromise<T>): MaybePromise<T> {
  if (value instanceof Promise) value.catch(() => undefined);
  return value;
}
