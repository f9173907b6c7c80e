import { InvalidParamError, type MaybePromise, StableAdamWError, UnsupportedBackendError } from '@stable-adamw/core';
import { andThen } from '@stable-adamw/core/adapter';
import { launchMoments } from './kernels/moments.js';
import { reduceSumSquares } from './kernels/rms-reduction.js';
import { launchUpdate } from './kernels/update.js';
import { upload } from './kernels/upload.js';
import { isPackable, runPacked } from './packed-step.js';
import type { GpuJsParam } from './param.js';
import type { BatchItem, Outcome, StepEnvironment } from './step-types.js';
import { type GpuJsTensor, isDeviceTensor, liveTensorProblem, numelOf } from './tensor.js';
import { guarded, inOrder, Transaction } from './transaction.js';
import { runVectorItem } from './vector-step.js';

/** How errors name a param. */
export function labelOf(param: GpuJsParam): string {
  return param.name ? `param (${param.name})` : 'param';
}

/**
 * Refuses a step that could not finish, before any kernel runs: a lost device, or state whose
 * device tensors are gone (gpu.js would read recycled memory or throw part-way).
 */
export function checkBeforeLaunch(env: StepEnvironment, items: readonly BatchItem[]): void {
  const lost = env.kernels.lostDevice;
  if (lost) {
    throw new UnsupportedBackendError(
      `gpu.js ${env.device.mode} cannot step: ${lost}, and params and state on it are gone`,
      'Create a new GPU and optimizer, then restore params and opt.loadStateDict() from a checkpoint.',
    );
  }
  for (const { param, state } of items) {
    for (const [name, tensor] of [
      ['exp_avg', state.expAvg],
      ['exp_avg_sq', state.expAvgSq],
    ] as const) {
      const problem = liveTensorProblem(tensor, env.gpu);
      if (problem) {
        throw new InvalidParamError(
          `${labelOf(param)} state ${name}`,
          problem,
          'The optimizer owns its state tensors: never delete them. Restore it with opt.loadStateDict() from a checkpoint.',
        );
      }
    }
  }
}

/** The typed error for a failure inside gpu.js part-way through a step or its gradient check (nothing was changed). */
export function deviceFailure(env: StepEnvironment, error: unknown): never {
  if (StableAdamWError.isInstance(error)) throw error;
  const message = error instanceof Error ? error.message : String(error);
  const failure = new UnsupportedBackendError(
    `gpu.js ${env.device.mode} failed during the step (${message}); params, moments and step counters are as they were before it`,
    'If the device or context was lost, create a new GPU and optimizer and restore a checkpoint; otherwise check the tensors passed in.',
  );
  (failure as { cause?: unknown }).cause = error;
  throw failure;
}

/** Both phases of one tensor into fresh tensors recorded in `tx`; nothing is swapped in yet. */
function runItem(env: StepEnvironment, tx: Transaction, item: BatchItem): MaybePromise<Outcome> {
  const { kernels, device } = env;
  if (device.vectorKernels) return runVectorItem(env, tx, item);
  // Host arrays (initial params, host gradients, fresh or loaded state) go through one upload
  // kernel, so the step's kernels always see device tensors: gpu.js compiles a kernel per argument
  // type signature and keeps every variant alive until the GPU is destroyed.
  const onDevice = (tensor: GpuJsTensor): MaybePromise<GpuJsTensor> =>
    device.hostResident || isDeviceTensor(tensor) ? tensor : andThen(upload(kernels, tensor), (t) => tx.made(t));
  const { state, moments, update, control } = item;
  const numel = numelOf(state.expAvg);
  if (device.hostResident && numel > device.tileElements) return runTiledOnHost(env, item, device.tileElements);
  return andThen(onDevice(item.grad), (grad) =>
    andThen(onDevice(state.expAvg), (expAvg) =>
      andThen(onDevice(state.expAvgSq), (expAvgSq) =>
        andThen(launchMoments(kernels, device.usesKernelMap, numel, grad, expAvg, expAvgSq, moments, control), (next) => {
          tx.made(next.expAvg);
          tx.made(next.expAvgSq);
          if (!update) return { item, ...next, data: null };
          return andThen(reduceSumSquares(kernels, tx, numel, grad, next.expAvgSq, moments, control), (sum) =>
            andThen(onDevice(item.param.data), (data) =>
              andThen(launchUpdate(kernels, numel, data, next.expAvg, next.expAvgSq, sum, update, control), (newData) => {
                tx.free(sum);
                return { item, ...next, data: tx.made(newData) };
              }),
            ),
          );
        }),
      ),
    ),
  );
}

/** Element ranges `[start, end)` of at most `size` elements covering `numel`. */
function tileRanges(numel: number, size: number): [number, number][] {
  const ranges: [number, number][] = [];
  for (let start = 0; start < numel; start += size) ranges.push([start, Math.min(numel, start + size)]);
  return ranges;
}

/**
 * Both phases of a host-resident tensor (`cpu`, `webasm`) larger than one kernel's exact index
 * range, tile by tile over views of its arrays: phase 1 on every tile, the tiles' partial sums
 * added into the whole tensor's sum, then phase 2 on every tile with that sum. Each tile's outputs
 * are copied into one fresh array per tensor.
 */
function runTiledOnHost(env: StepEnvironment, item: BatchItem, tileSize: number): MaybePromise<Outcome> {
  const { kernels, device } = env;
  const { state, moments, update } = item;
  const grad = item.grad as Float32Array;
  const m = state.expAvg as Float32Array;
  const v = state.expAvgSq as Float32Array;
  const numel = m.length;
  const expAvg = new Float32Array(numel);
  const expAvgSq = new Float32Array(numel);
  const ranges = tileRanges(numel, tileSize);
  let total = 0;
  const phase1 = inOrder(ranges, ([start, end]) =>
    andThen(
      launchMoments(
        kernels,
        device.usesKernelMap,
        end - start,
        grad.subarray(start, end),
        m.subarray(start, end),
        v.subarray(start, end),
        moments,
      ),
      (next) => {
        expAvg.set(next.expAvg as Float32Array, start);
        expAvgSq.set(next.expAvgSq as Float32Array, start);
        if (!update) return undefined;
        // Host arrays need no freeing: the reduction's intermediates go to a transaction of their own.
        return andThen(
          reduceSumSquares(kernels, new Transaction(), end - start, grad.subarray(start, end), next.expAvgSq, moments),
          (sum) => {
            total += (sum as Float32Array)[0] as number;
          },
        );
      },
    ),
  );
  return andThen(phase1, () => {
    if (!update) return { item, expAvg, expAvgSq, data: null };
    const data = new Float32Array(numel);
    const sum = Float32Array.of(total);
    const param = item.param.data as Float32Array;
    return andThen(
      inOrder(ranges, ([start, end]) =>
        andThen(
          launchUpdate(
            kernels,
            end - start,
            param.subarray(start, end),
            expAvg.subarray(start, end),
            expAvgSq.subarray(start, end),
            sum,
            update,
          ),
          (tile) => {
            data.set(tile as Float32Array, start);
          },
        ),
      ),
      () => ({ item, expAvg, expAvgSq, data }),
    );
  });
}

/** Swaps the new tensors in and frees what they replace, once every kernel of the step has run. */
export function commit(env: StepEnvironment, outcomes: readonly Outcome[]): void {
  for (const { item, expAvg, expAvgSq, data } of outcomes) {
    const { state, param } = item;
    env.release(state.expAvg);
    env.release(state.expAvgSq);
    state.expAvg = env.own(expAvg);
    state.expAvgSq = env.own(expAvgSq);
    if (data) {
      env.release(param.data);
      param.data = env.own(data);
    }
  }
}

/**
 * One step of `items` as a transaction: checks first, then every kernel into fresh tensors (the
 * host-resident items that `isPackable` accepts as packs, the rest per tensor), then the swap. A
 * failure part-way frees what the step made and throws a typed error (a rejection in
 * promise-returning modes), with every param and state tensor as it was.
 */
export function stepBatch(env: StepEnvironment, items: readonly BatchItem[]): MaybePromise<void> {
  const tx = new Transaction();
  return guarded(
    () => {
      checkBeforeLaunch(env, items);
      const packable = items.filter((item) => isPackable(env, item));
      const single = items.filter((item) => !isPackable(env, item));
      return andThen(
        andThen(runPacked(env, packable), (packed) =>
          andThen(
            inOrder(single, (item) => runItem(env, tx, item)),
            (outcomes) => [...packed, ...outcomes],
          ),
        ),
        (outcomes) => {
          commit(env, outcomes);
          // The new moments and params now belong to the optimizer; uploaded copies are freed.
          tx.finish(outcomes.flatMap(({ expAvg, expAvgSq, data }) => [expAvg, expAvgSq, data]));
        },
      );
    },
    (error) => {
      tx.rollback();
      return deviceFailure(env, error);
    },
  );
}
