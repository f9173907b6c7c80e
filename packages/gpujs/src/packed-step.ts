import type { MaybePromise } from '@stable-adamw/core';
import { andThen, type UpdateScalars } from '@stable-adamw/core/adapter';
import { launchMoments } from './kernels/moments.js';
import { launchPackedEtas, launchPackedSumSquares, launchPackedUpdate, PACK_BLOCK, type PackTables } from './kernels/packed.js';
import type { BatchItem, Outcome, StepEnvironment } from './step-types.js';
import { inOrder } from './transaction.js';

// The multi-tensor step of gpu.js's `cpu` mode (see DeviceFacts.packsHostTensors): the tensors of
// a step that share their scalars (one param group, in practice) go through packs of up to
// PACK_LIMIT elements, four launches per pack whatever their number of tensors — moments (one
// kernel map), block sums, per-tensor clipped rates, update.
// Host arrays make packing a memcpy and unpacking free: params and moments come back as views
// (`subarray`) of the packed outputs, so the next step finds them already packed and copies
// nothing but the gradients. `webasm` and GPU modes keep the per-tensor path (see the README: on
// `webasm` it measured faster; a GPU kernel writes one whole fresh output and binds a fixed list
// of arguments, so gathering N gradient textures or handing N param textures back costs launches
// per tensor).

/**
 * Largest pack, in elements (1 MiB per packed array). It must stay below 2^24, where `webasm`
 * indices and the float32 offset tables stop being exact; it is this small because gpu.js's host
 * kernels slow down on large outputs: one 4M-element moments launch on `cpu` took 3–6× as long as
 * 512 launches of 8k (measured in Node 20), while packs of 2^16–2^18 ran as fast or faster.
 * Launches per step are then ⌈elements / 2^18⌉ packs' worth: set by the model's size, not by how
 * many tensors it has.
 */
const PACK_LIMIT = 2 ** 18;

/** An item of the packed path: a full step of host arrays. */
interface PackedItem extends BatchItem {
  readonly update: UpdateScalars;
}

/** The packed arrays' layout: each tensor's offset (a multiple of PACK_BLOCK) and the device tables. */
interface PackLayout {
  readonly offsets: readonly number[];
  readonly tables: PackTables;
  /**
   * The packed gradients, rewritten every step (padding stays 0): the kernels read them before
   * the step returns and keep nothing, and a fresh megabyte per pack per step cost more than the copy.
   */
  readonly grads: Float32Array;
}

/** Layouts by their tensors' lengths, per backend; a layout is stable from one step to the next. */
const layoutCaches = new WeakMap<StepEnvironment, Map<string, PackLayout>>();
const MAX_CACHED_LAYOUTS = 16;

/** Whether `item` can go packed: a full step, on a packing mode (`cpu`), small enough for one pack. */
export function isPackable(env: StepEnvironment, item: BatchItem): item is PackedItem {
  const { param, grad, state } = item;
  return (
    env.device.packsHostTensors &&
    item.update !== null &&
    [param.data, grad, state.expAvg, state.expAvgSq].every((x) => x instanceof Float32Array) &&
    numelOf(item) <= Math.min(env.device.tileElements, PACK_LIMIT)
  );
}

/** Element count of an item's tensor. */
function numelOf(item: BatchItem): number {
  return (item.state.expAvg as Float32Array).length;
}

/** Items whose scalars are equal share kernels' arguments, so they share a pack. */
function scalarsKey({ moments, update }: PackedItem): string {
  return [
    moments.beta1Hat,
    moments.beta2Hat,
    moments.epsSq,
    moments.gradScale,
    update.lr,
    update.eps,
    update.weightDecayPerLr,
  ].join(',');
}

/** The start of the next tensor after `end` elements: tensors start on block boundaries. */
function aligned(end: number): number {
  return Math.ceil(end / PACK_BLOCK) * PACK_BLOCK;
}

/** Splits `items` into packs of equal scalars and at most `limit` elements, in order. */
function packsOf(items: readonly PackedItem[], limit: number): PackedItem[][] {
  const byScalars = new Map<string, { items: PackedItem[]; end: number }[]>();
  for (const item of items) {
    const key = scalarsKey(item);
    const packs = byScalars.get(key) ?? [];
    byScalars.set(key, packs);
    const last = packs[packs.length - 1];
    const start = last ? aligned(last.end) : 0;
    if (last && start + numelOf(item) <= limit) {
      last.items.push(item);
      last.end = start + numelOf(item);
    } else {
      packs.push({ items: [item], end: numelOf(item) });
    }
  }
  return [...byScalars.values()].flat().map((pack) => pack.items);
}

function layoutOf(env: StepEnvironment, numels: readonly number[]): PackLayout {
  let cache = layoutCaches.get(env);
  if (!cache) {
    cache = new Map();
    layoutCaches.set(env, cache);
  }
  const key = numels.join(',');
  const cached = cache.get(key);
  if (cached) return cached;
  const offsets: number[] = [];
  let end = 0;
  for (const n of numels) {
    const offset = aligned(end);
    offsets.push(offset);
    end = offset + n;
  }
  const blocks = Math.ceil(end / PACK_BLOCK);
  const tables: PackTables = {
    length: end,
    tensors: numels.length,
    blocks,
    blockTensor: new Float32Array(blocks),
    tensorEnd: Float32Array.from(numels, (n, t) => (offsets[t] as number) + n),
    firstBlock: Float32Array.from({ length: numels.length + 1 }, (_, t) =>
      t < numels.length ? (offsets[t] as number) / PACK_BLOCK : blocks,
    ),
    numels: Float32Array.from(numels),
  };
  numels.forEach((n, t) => {
    const first = (offsets[t] as number) / PACK_BLOCK;
    tables.blockTensor.fill(t, first, first + Math.ceil(n / PACK_BLOCK));
  });
  if (cache.size >= MAX_CACHED_LAYOUTS) cache.clear();
  const layout = { offsets, tables, grads: new Float32Array(end) };
  cache.set(key, layout);
  return layout;
}

/**
 * `arrays` in the packed layout: the arrays' own memory when they already are views of one buffer
 * at the layout's offsets (the previous step's outputs, or a single tensor), else one copy (into
 * `into` when given).
 */
function packed(arrays: readonly Float32Array[], { offsets, tables }: PackLayout, into?: Float32Array): Float32Array {
  const first = arrays[0] as Float32Array;
  const base = first.byteOffset;
  const inPlace =
    base + tables.length * 4 <= first.buffer.byteLength &&
    arrays.every((a, t) => a.buffer === first.buffer && a.byteOffset === base + (offsets[t] as number) * 4);
  if (inPlace) return first.length === tables.length ? first : new Float32Array(first.buffer, base, tables.length);
  const out = into ?? new Float32Array(tables.length);
  arrays.forEach((a, t) => {
    out.set(a, offsets[t]);
  });
  return out;
}

/** A kernel's host output as a Float32Array (gpu.js returns one for 1-D outputs on cpu and webasm). */
function hostArray(x: unknown): Float32Array {
  return x instanceof Float32Array ? x : Float32Array.from(x as ArrayLike<number>);
}

/** Both phases of one pack; each item's new tensors are views of the pack's fresh outputs. */
function runPack(env: StepEnvironment, items: readonly PackedItem[]): MaybePromise<Outcome[]> {
  const { kernels, device } = env;
  const layout = layoutOf(
    env,
    items.map((item) => numelOf(item)),
  );
  const { tables, offsets } = layout;
  const { moments, update } = items[0] as PackedItem;
  const pack = (pick: (item: PackedItem) => unknown, into?: Float32Array) =>
    packed(items.map(pick) as Float32Array[], layout, into);
  const grad = pack((item) => item.grad, layout.grads);
  return andThen(
    launchMoments(
      kernels,
      device.usesKernelMap,
      tables.length,
      grad,
      pack((i) => i.state.expAvg),
      pack((i) => i.state.expAvgSq),
      moments,
    ),
    (next) =>
      andThen(launchPackedSumSquares(kernels, tables, grad, next.expAvgSq, moments), (blockSums) =>
        andThen(launchPackedEtas(kernels, tables, blockSums, update.lr), (etas) =>
          andThen(
            launchPackedUpdate(
              kernels,
              tables,
              pack((i) => i.param.data),
              next.expAvg,
              next.expAvgSq,
              etas,
              update,
            ),
            (data) => {
              const [m, v, p] = [next.expAvg, next.expAvgSq, data].map(hostArray) as [Float32Array, Float32Array, Float32Array];
              return items.map((item, t) => {
                const start = offsets[t] as number;
                const end = start + numelOf(item);
                return { item, expAvg: m.subarray(start, end), expAvgSq: v.subarray(start, end), data: p.subarray(start, end) };
              });
            },
          ),
        ),
      ),
  );
}

/** Runs `items` (all packable) as packs; their outcomes are swapped in by the caller's commit. */
export function runPacked(env: StepEnvironment, items: readonly PackedItem[]): MaybePromise<Outcome[]> {
  const limit = Math.min(env.device.tileElements, PACK_LIMIT);
  return andThen(
    inOrder(packsOf(items, limit), (pack) => runPack(env, pack)),
    (outcomes) => outcomes.flat(),
  );
}
