import { InvalidParamError, type MaybePromise, UnsupportedBackendError } from '@stable-adamw/core';
import { andThen } from '@stable-adamw/core/adapter';
import {
  blocksOf,
  type FusedPipelines,
  fusedPipelines,
  type GpuBufferLike,
  type GpuDeviceLike,
  tableOf,
  USAGE,
  WORKGROUP,
} from './kernels/fused-webgpu.js';
import { upload } from './kernels/upload.js';
import { SPLIT_MIN } from './kernels/vector.js';
import { checkBeforeLaunch, deviceFailure, labelOf } from './step-batch.js';
import type { BatchItem, StepEnvironment } from './step-types.js';
import { deleteDeviceTensor, type GpuJsTensor, isDeviceTensor, isViewAt, viewOf, viewOffsetOf } from './tensor.js';
import { forgetVectorKernels } from './vector-step.js';

// The `webgpu-multi-tensor` path: every tensor of a step in the same three compute dispatches of
// kernels/fused-webgpu.ts, recorded on gpu.js's own GPUDevice and submitted once.
//
// gpu.js hands out a WebGPU result as a `WebGPUBufferResult` (a GPUBuffer, its `{ device }`
// context and the kernel that reads it back), and binds such a handle as a kernel argument. The
// optimizer makes handles of that very class on buffers of its own: θ of each param, and m and v
// of each state (small tensors one buffer, m at 0 and v at 4⌈n/4⌉, the layout of the per-tensor
// path in vector-step.ts, so either path can step a tensor after the other). WebGPU binds a fixed
// number of buffers per pipeline, so a step gathers g, θ, m and v of every tensor into four packed
// scratch buffers with `copyBufferToBuffer` (a copy, not a dispatch; host values are written with
// `queue.writeBuffer`), runs the dispatches in place on them, and copies θ, m and v back into the
// optimizer's buffers. The scratch buffers are kept from step to step (grown when a step needs
// more), so a step of the same tensors creates no buffer and reads nothing back.
//
// A step is validated before anything is recorded and submitted as one command buffer: a throw
// leaves every param and state as it was. A param or state still held elsewhere (host arrays, a
// per-tensor result, your own tensor) gets a buffer of its own on its first fused step.

/** gpu.js's `WebGPUBufferResult`, as far as the fused path uses it. */
interface BufferHandle {
  readonly buffer: GpuBufferLike;
  readonly context: { readonly device: GpuDeviceLike; readonly isLost?: boolean };
  readonly output: number[];
}

type HandleClass = new (settings: {
  buffer: GpuBufferLike;
  output: number[];
  componentCount: number;
  context: unknown;
  kernel: unknown;
}) => GpuJsTensor;

/** What the fused path learns from one result of a gpu.js kernel on this device. */
interface Context {
  readonly device: GpuDeviceLike;
  readonly context: BufferHandle['context'];
  readonly Handle: HandleClass;
  /** The gpu.js kernel whose `readBufferResult` reads the optimizer's handles back. */
  readonly reader: unknown;
  readonly pipelines: FusedPipelines;
}

/** Packed arrays and scratch of one batch of a step, kept across steps. */
interface Scratch {
  buffers: GpuBufferLike[];
  bindGroup: unknown;
}

/** Where a tensor's floats are: host values, or a buffer and the byte offset in it. */
type Source = Float32Array | { readonly buffer: GpuBufferLike; readonly offset: number };

/** One tensor of a step, validated. */
interface Planned {
  readonly item: BatchItem;
  readonly numel: number;
  /** g, θ, m, v. */
  readonly sources: readonly [Source, Source, Source, Source];
  /** Whether θ and the moments already live in the optimizer's buffers (written back in place). */
  readonly ownTheta: boolean;
  readonly ownMoments: boolean;
}

/** Floats of a small tensor's moments buffer, and where v starts in it. */
const vOffsetOf = (numel: number) => (numel < SPLIT_MIN ? 4 * Math.ceil(numel / 4) : 0);

/** The largest batch of one step, in elements per packed array: 128 MiB, the binding every device supports. */
const MAX_BATCH_ELEMENTS = 2 ** 25;

/** Counts of the fused path's WebGPU work, for `opt.stats`. */
export interface FusedCounts {
  dispatches: number;
  submits: number;
}

/** The fused multi-tensor path of one optimizer (see the comment at the top). */
export class FusedWebGPU {
  readonly #env: StepEnvironment;
  readonly #counts: FusedCounts;
  /** The optimizer's own handles: θ, m, and large tensors' v. */
  readonly #own = new WeakSet<object>();
  readonly #scratch: Scratch[] = [];
  #context: Context | undefined;

  constructor(env: StepEnvironment, counts: FusedCounts) {
    this.#env = env;
    this.#counts = counts;
  }

  /**
   * One step of `items`: checks, then one submission of every copy and dispatch, then the swap of
   * the params' and states' new handles. A throw (a rejection) changes nothing.
   */
  step(items: readonly BatchItem[]): Promise<void> {
    const env = this.#env;
    try {
      checkBeforeLaunch(env, items);
      // Recorded synchronously once the device is known, so un-awaited calls stay in order.
      return Promise.resolve(andThen(this.#ready(), (context) => this.#run(context, items))).catch((error: unknown) =>
        deviceFailure(env, error),
      );
    } catch (error) {
      return Promise.reject(error).catch((cause: unknown) => deviceFailure(env, cause));
    }
  }

  /** Destroys the scratch buffers (the handles belong to the backend's registry). */
  destroy(): void {
    for (const scratch of this.#scratch) for (const buffer of scratch.buffers) buffer.destroy();
    this.#scratch.length = 0;
  }

  /** The device, handle class and reader, from one 1-element gpu.js upload on the first step. */
  #ready(): MaybePromise<Context> {
    if (this.#context) return this.#context;
    return andThen(upload(this.#env.kernels, Float32Array.of(0)), (probe) => {
      const handle = probe as unknown as BufferHandle & { kernel: unknown; constructor: HandleClass };
      const device = handle.context.device;
      this.#context = {
        device,
        context: handle.context,
        Handle: handle.constructor,
        reader: handle.kernel,
        pipelines: fusedPipelines(device),
      };
      deleteDeviceTensor(probe);
      return this.#context;
    });
  }

  /** Validates the step's tensors, then records and submits it, then swaps the new handles in. */
  #run(context: Context, items: readonly BatchItem[]): void {
    if (context.context.isLost)
      throw new UnsupportedBackendError('its WebGPU device was lost', 'Create a new GPU and optimizer.');
    const planned = items.map((item) => this.#plan(context, item));
    const batches = this.#batches(context, planned);
    const { device } = context;
    const created: GpuJsTensor[] = [];
    const handle = (n: number, floats = n): GpuJsTensor => {
      const buffer = device.createBuffer({ size: 4 * floats, usage: USAGE.storage | USAGE.copySrc | USAGE.copyDst });
      const made = new context.Handle({
        buffer,
        output: [n],
        componentCount: 1,
        context: context.context,
        kernel: context.reader,
      });
      created.push(made);
      return made;
    };
    try {
      const encoder = device.createCommandEncoder();
      const recorded = batches.map((batch, b) => {
        const scratch = this.#scratchFor(context, b, batch);
        let offset = 0;
        for (const { numel, sources } of batch) {
          sources.forEach((source, k) => {
            const packed = scratch.buffers[k] as GpuBufferLike;
            if (source instanceof Float32Array) device.queue.writeBuffer(packed, 4 * offset, source);
            else encoder.copyBufferToBuffer(source.buffer, source.offset, packed, 4 * offset, 4 * numel);
          });
          offset += numel;
        }
        const table = tableOf(
          batch.map(({ numel, item }) => ({
            numel,
            moments: item.moments,
            update: item.update as NonNullable<BatchItem['update']>,
          })),
          device.limits.maxComputeWorkgroupsPerDimension,
        );
        device.queue.writeBuffer(scratch.buffers[6] as GpuBufferLike, 0, table.words);
        return { batch, scratch, grid: table.grid };
      });
      const pass = encoder.beginComputePass();
      const { moments, sums, update } = context.pipelines;
      for (const { batch, scratch, grid } of recorded) {
        pass.setBindGroup(0, scratch.bindGroup);
        pass.setPipeline(moments);
        pass.dispatchWorkgroups(grid[0], grid[1]);
        pass.setPipeline(sums);
        pass.dispatchWorkgroups(Math.ceil(batch.length / WORKGROUP));
        pass.setPipeline(update);
        pass.dispatchWorkgroups(grid[0], grid[1]);
      }
      pass.end();
      const swaps: (() => void)[] = [];
      for (const { batch, scratch } of recorded) {
        let offset = 0;
        for (const plan of batch) {
          swaps.push(this.#writeBack(plan, scratch, offset, encoder, handle));
          offset += plan.numel;
        }
      }
      device.queue.submit([encoder.finish()]);
      this.#counts.dispatches += 3 * recorded.length;
      this.#counts.submits += 1;
      for (const swap of swaps) swap();
    } catch (error) {
      for (const made of created) deleteDeviceTensor(made);
      throw error;
    }
  }

  /**
   * Records the copies of θ, m and v from the packed arrays (at `offset`) into the optimizer's
   * buffers, fresh ones where the tensor has none yet; returns the swap to run once submitted.
   */
  #writeBack(
    plan: Planned,
    scratch: Scratch,
    offset: number,
    encoder: ReturnType<GpuDeviceLike['createCommandEncoder']>,
    handle: (n: number, floats?: number) => GpuJsTensor,
  ): () => void {
    const { item, numel, ownTheta, ownMoments } = plan;
    const { param, state } = item;
    const env = this.#env;
    const bytes = 4 * numel;
    const theta = ownTheta ? param.data : handle(numel);
    const vOffset = vOffsetOf(numel);
    const m = ownMoments ? state.expAvg : handle(numel, vOffset > 0 ? 2 * vOffset : numel);
    const v = ownMoments ? state.expAvgSq : vOffset > 0 ? m : handle(numel);
    const copy = (k: number, target: GpuJsTensor, at: number) =>
      encoder.copyBufferToBuffer(
        scratch.buffers[k] as GpuBufferLike,
        4 * offset,
        (target as unknown as BufferHandle).buffer,
        4 * at,
        bytes,
      );
    copy(1, theta, 0);
    copy(2, m, 0);
    copy(3, v, vOffset);
    return () => {
      if (!ownTheta) {
        env.release(param.data);
        param.data = env.own(theta);
        this.#own.add(theta);
      }
      if (!ownMoments) {
        env.release(state.expAvg);
        env.release(state.expAvgSq);
        // A large tensor's per-tensor kernels of its own hold a second copy of θ, m and v: drop them.
        forgetVectorKernels(env.kernels, state);
        state.expAvg = env.own(m);
        state.expAvgSq = env.own(vOffset > 0 ? viewOf(m, vOffset, numel) : v);
        this.#own.add(state.expAvg);
        this.#own.add(state.expAvgSq);
      }
    };
  }

  /** Checks one tensor's sources (alive, on this device, readable) before anything is recorded. */
  #plan(context: Context, item: BatchItem): Planned {
    const { param, state } = item;
    const label = labelOf(param);
    const numel =
      state.expAvg instanceof Float32Array
        ? state.expAvg.length
        : ((state.expAvg as unknown as BufferHandle).output[0] as number);
    const source = (tensor: GpuJsTensor, what: string): Source => {
      if (!isDeviceTensor(tensor)) return tensor;
      const h = tensor as unknown as BufferHandle;
      const offset = 4 * viewOffsetOf(tensor);
      let problem: string | undefined;
      if (h.context !== context.context) problem = "is a buffer of another WebGPU device than the optimizer's gpu.js instance";
      else if (!(h.buffer.usage & USAGE.copySrc)) problem = 'is a WebGPU buffer that cannot be copied from (no COPY_SRC usage)';
      else if (h.buffer.size < offset + 4 * numel) problem = `holds fewer than the ${numel} floats needed`;
      if (problem) {
        throw new InvalidParamError(
          `${label} ${what}`,
          problem,
          "Pass tensors made by kernels of the optimizer's own GPU instance.",
        );
      }
      return { buffer: h.buffer, offset };
    };
    const sources = [
      source(item.grad, 'gradient'),
      source(param.data, 'data'),
      source(state.expAvg, 'state exp_avg'),
      source(state.expAvgSq, 'state exp_avg_sq'),
    ] as const;
    const vOffset = vOffsetOf(numel);
    const ownMoments =
      this.#own.has(state.expAvg) &&
      (vOffset > 0 ? isViewAt(state.expAvgSq, state.expAvg, vOffset) : this.#own.has(state.expAvgSq));
    return { item, numel, sources, ownTheta: this.#own.has(param.data), ownMoments };
  }

  /** Consecutive tensors, cut where a batch would exceed one binding's elements or its partial sums. */
  #batches(context: Context, planned: readonly Planned[]): Planned[][] {
    const { maxStorageBufferBindingSize, maxBufferSize } = context.device.limits;
    const elements = Math.min(MAX_BATCH_ELEMENTS, Math.floor(Math.min(maxStorageBufferBindingSize, maxBufferSize) / 4));
    const partials = elements;
    const out: Planned[][] = [];
    let current: Planned[] = [];
    let n = 0;
    let p = 0;
    for (const plan of planned) {
      const blocks = blocksOf(plan.numel).blocks * WORKGROUP;
      if (current.length > 0 && (n + plan.numel > elements || p + blocks > partials)) {
        out.push(current);
        current = [];
        n = 0;
        p = 0;
      }
      current.push(plan);
      n += plan.numel;
      p += blocks;
    }
    if (current.length > 0) out.push(current);
    return out;
  }

  /** Batch `b`'s scratch, grown to fit `batch` (buffers: g, θ, m, v, partials, totals, table). */
  #scratchFor(context: Context, b: number, batch: readonly Planned[]): Scratch {
    const elements = batch.reduce((sum, { numel }) => sum + numel, 0);
    const blocks = batch.reduce((sum, { numel }) => sum + blocksOf(numel).blocks, 0);
    const tableWords = 4 + 15 * batch.length + blocks;
    const bytes = [elements, elements, elements, elements, blocks * WORKGROUP, batch.length, tableWords].map((n) => 4 * n);
    const usages = [
      USAGE.copyDst,
      USAGE.copyDst | USAGE.copySrc,
      USAGE.copyDst | USAGE.copySrc,
      USAGE.copyDst | USAGE.copySrc,
      0,
      0,
      USAGE.copyDst,
    ];
    const scratch = this.#scratch[b] ?? { buffers: [], bindGroup: undefined };
    this.#scratch[b] = scratch;
    let changed = false;
    bytes.forEach((size, k) => {
      const current = scratch.buffers[k];
      if (current && current.size >= size) return;
      current?.destroy();
      scratch.buffers[k] = context.device.createBuffer({
        size: Math.max(16, size),
        usage: USAGE.storage | (usages[k] as number),
      });
      changed = true;
    });
    if (changed) {
      scratch.bindGroup = context.device.createBindGroup({
        layout: context.pipelines.layout,
        // Bindings: the table, then g, θ, m, v, partials, totals.
        entries: [6, 0, 1, 2, 3, 4, 5].map((k, binding) => ({
          binding,
          resource: { buffer: scratch.buffers[k] as GpuBufferLike },
        })),
      });
    }
    return scratch;
  }
}
