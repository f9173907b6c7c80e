import type { MaybePromise } from '@stable-adamw/core';
import { andThen } from '@stable-adamw/core/adapter';
import type { KernelCache } from './kernels/kernel-cache.js';
import { upload } from './kernels/upload.js';
import {
  launchVectorExpAvg,
  launchVectorExpAvgSq,
  launchVectorFinalSum,
  launchVectorMoments,
  launchVectorPartials,
  launchVectorUpdate,
  type Target,
  type VectorLayout,
  vectorLayout,
} from './kernels/vector.js';
import type { GpuJsState } from './state.js';
import type { BatchItem, Outcome, StepEnvironment } from './step-types.js';
import { asElements, type GpuJsTensor, isDeviceTensor, isViewAt, numelOf, viewOf } from './tensor.js';
import type { Transaction } from './transaction.js';

// One tensor's step on gpu.js `webgpu` (DeviceFacts.vectorKernels) with the kernels of
// kernels/vector.ts. Small tensors: the moments launch writes m′, v′ and the partial sums into one
// buffer, whose m′ part becomes `state.expAvg` and whose v′ part a view, `state.expAvgSq`; two
// launches (three past MAX_INLINE_PARTIALS partial sums). Large tensors (the layout's `split`):
// m′, v′, partials, their sum and the update, five launches, m′, v′ and θ into buffers of the
// tensor's own kernels (see `Target`: a fresh 16 MiB buffer costs ~95 ms on SwiftShader, building
// a kernel ~2.5 ms once).

/** Which of a tensor's two own kernels wrote a tensor (0 or 1); absent for anything else. */
const parities = new WeakMap<object, number>();

/** The kernel-key tag of each state with kernels of its own. */
const owners = new WeakMap<GpuJsState, string>();
let ownerCount = 0;

function ownerOf(state: GpuJsState): string {
  let owner = owners.get(state);
  if (!owner) {
    ownerCount += 1;
    owner = `own${ownerCount}`;
    owners.set(state, owner);
  }
  return owner;
}

/** Destroys the kernels of `state`'s own, if it has any (its state was disposed). */
export function forgetVectorKernels(kernels: KernelCache, state: GpuJsState): void {
  const owner = owners.get(state);
  if (owner) kernels.destroyWhere((key) => key.endsWith(`:${owner}:0`) || key.endsWith(`:${owner}:1`));
}

const SHARED: Target = { owner: undefined, parity: 0 };

/** Where to write a new version of `current`: never the buffer it is in. */
function targetFor(owner: string | undefined, current: GpuJsTensor): Target {
  return { owner, parity: parities.get(current) === 0 ? 1 : 0 };
}

/**
 * The old moments as one device buffer laid out as the moments launch reads them: the state's own
 * buffer after a step, else host values (fresh or loaded state) packed and uploaded once.
 */
function packedMoments(
  kernels: KernelCache,
  tx: Transaction,
  state: GpuJsState,
  layout: VectorLayout,
): MaybePromise<GpuJsTensor> {
  const { expAvg, expAvgSq } = state;
  if (isDeviceTensor(expAvg) && isViewAt(expAvgSq, expAvg, 4 * layout.quads)) return expAvg;
  if (!(expAvg instanceof Float32Array && expAvgSq instanceof Float32Array)) {
    throw new Error('the moments are neither host arrays nor one buffer of the webgpu vector kernels');
  }
  const packed = new Float32Array(8 * layout.quads);
  packed.set(expAvg, 0);
  packed.set(expAvgSq, 4 * layout.quads);
  return andThen(upload(kernels, packed), (t) => tx.made(t));
}

/** The tensors a step made for one item, before the update. */
interface Moments {
  readonly expAvg: GpuJsTensor;
  readonly expAvgSq: GpuJsTensor;
  /** Where the partial sums are: the small path's moments buffer, or the large path's own. */
  readonly partials: GpuJsTensor;
}

/** Records a launch's result in `tx`, relabelled as `n` elements, and which of its two kernels wrote it. */
function made(tx: Transaction, result: GpuJsTensor, n: number, target: Target): GpuJsTensor {
  const tensor = tx.made(asElements(result, n));
  parities.set(tensor, target.parity);
  return tensor;
}

/** Small tensors: one launch for m′, v′ and the partials. */
function smallMoments(
  env: StepEnvironment,
  tx: Transaction,
  item: BatchItem,
  grad: GpuJsTensor,
  layout: VectorLayout,
): MaybePromise<Moments> {
  const { kernels } = env;
  const { state, moments } = item;
  return andThen(packedMoments(kernels, tx, state, layout), (old) =>
    andThen(launchVectorMoments(kernels, layout, SHARED, grad, old, moments, item.control), (out) => {
      const expAvg = made(tx, out, layout.n, SHARED);
      return { expAvg, expAvgSq: tx.made(viewOf(expAvg, 4 * layout.quads, layout.n)), partials: expAvg };
    }),
  );
}

/** Large tensors: m′ and v′ into their own kernels' buffers, then the partials. */
function largeMoments(
  env: StepEnvironment,
  tx: Transaction,
  item: BatchItem,
  grad: GpuJsTensor,
  layout: VectorLayout,
  withPartials: boolean,
): MaybePromise<Moments> {
  const { kernels } = env;
  const { state, moments } = item;
  const owner = ownerOf(state);
  const onDevice = (tensor: GpuJsTensor): MaybePromise<GpuJsTensor> =>
    isDeviceTensor(tensor) ? tensor : andThen(upload(kernels, tensor), (t) => tx.made(t));
  const mTarget = targetFor(owner, state.expAvg);
  const vTarget = targetFor(owner, state.expAvgSq);
  return andThen(onDevice(state.expAvg), (m) =>
    andThen(launchVectorExpAvg(kernels, layout, mTarget, grad, m, moments, item.control), (newM) => {
      const expAvg = made(tx, newM, layout.n, mTarget);
      return andThen(onDevice(state.expAvgSq), (v) =>
        andThen(launchVectorExpAvgSq(kernels, layout, vTarget, grad, v, moments, item.control), (newV) => {
          const expAvgSq = made(tx, newV, layout.n, vTarget);
          if (!withPartials) return { expAvg, expAvgSq, partials: expAvgSq };
          return andThen(launchVectorPartials(kernels, layout, grad, expAvgSq, moments, item.control), (partials) => ({
            expAvg,
            expAvgSq,
            partials: tx.made(asElements(partials, layout.partials)),
          }));
        }),
      );
    }),
  );
}

/** Both phases of one tensor into fresh tensors (or its own kernels' buffers), recorded in `tx`. */
export function runVectorItem(env: StepEnvironment, tx: Transaction, item: BatchItem): MaybePromise<Outcome> {
  const { kernels } = env;
  const { state, update } = item;
  const layout = vectorLayout(numelOf(state.expAvg));
  const onDevice = (tensor: GpuJsTensor): MaybePromise<GpuJsTensor> =>
    isDeviceTensor(tensor) ? tensor : andThen(upload(kernels, tensor), (t) => tx.made(t));
  return andThen(onDevice(item.grad), (grad) =>
    andThen(
      layout.split ? largeMoments(env, tx, item, grad, layout, update !== null) : smallMoments(env, tx, item, grad, layout),
      ({ expAvg, expAvgSq, partials }) => {
        if (!update) return { item, expAvg, expAvgSq, data: null };
        const sums = layout.inline ? partials : andThen(launchVectorFinalSum(kernels, layout, partials), (sum) => tx.made(sum));
        return andThen(sums, (sum) =>
          andThen(onDevice(item.param.data), (param) => {
            const target = layout.split ? targetFor(ownerOf(state), item.param.data) : SHARED;
            return andThen(
              launchVectorUpdate(kernels, layout, target, { param, expAvg, expAvgSq, sums: sum }, update, item.control),
              (next) => {
                if (sum !== expAvg) tx.free(sum);
                if (partials !== expAvg && partials !== expAvgSq) tx.free(partials);
                return { item, expAvg, expAvgSq, data: made(tx, next, layout.n, target) };
              },
            );
          }),
        );
      },
    ),
  );
}
