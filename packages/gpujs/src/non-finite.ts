import type { MaybePromise } from '@stable-adamw/core';
import { andThen } from '@stable-adamw/core/adapter';
import { nonFiniteTable } from './kernels/non-finite.js';
import { deviceFailure } from './step-batch.js';
import type { StepEnvironment } from './step-types.js';
import { type GpuJsTensor, isDeviceTensor } from './tensor.js';
import { guarded, Transaction } from './transaction.js';

/** Whether a host gradient holds NaN or ±Inf: x − x is NaN exactly for those, 0 otherwise. */
export function hostHasNonFinite(grad: Float32Array): boolean {
  for (let i = 0; i < grad.length; i++) {
    const x = grad[i] as number;
    if (x - x !== 0) return true;
  }
  return false;
}

/**
 * The indices of `grads` holding NaN or ±Inf, changing nothing. Host arrays (every gradient on
 * `cpu`/`webasm`) are scanned on the host; device tensors are counted on the device into one table
 * (`nonFiniteTable`), read back once, and every tensor the check made is freed. A gpu.js failure
 * rejects with the typed error of a failed step.
 */
export function findNonFiniteGrads(
  env: StepEnvironment,
  grads: readonly GpuJsTensor[],
  read: (tensor: GpuJsTensor) => MaybePromise<Float32Array>,
): MaybePromise<number[]> {
  const found: number[] = [];
  const onDevice: number[] = [];
  grads.forEach((grad, i) => {
    if (isDeviceTensor(grad)) onDevice.push(i);
    else if (hostHasNonFinite(grad)) found.push(i);
  });
  if (onDevice.length === 0) return found;
  const tx = new Transaction();
  return guarded(
    () =>
      andThen(
        andThen(
          nonFiniteTable(
            env.kernels,
            tx,
            onDevice.map((i) => grads[i] as GpuJsTensor),
          ),
          read,
        ),
        (counts) => {
          tx.rollback();
          counts.forEach((count, k) => {
            if (count !== 0) found.push(onDevice[k] as number);
          });
          return found.sort((a, b) => a - b);
        },
      ),
    (error) => {
      tx.rollback();
      return deviceFailure(env, error);
    },
  );
}
