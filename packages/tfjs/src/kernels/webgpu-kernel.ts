/// <reference types="@webgpu/types" />
import { UnsupportedBackendError } from '@stable-adamw/core';
import type { MomentScalars, StableAdamWKernelV1, TensorInfo, UpdateScalars } from '@stable-adamw/core/adapter';
import * as tf from '@tensorflow/tfjs-core';
import type { TfjsState } from '../state.js';
import {
  activeWebGPU,
  blocksOf,
  bufferOf,
  destination,
  pipelinesFor,
  tableOf,
  type WebGPUBackendLike,
  WORKGROUP,
} from './webgpu-multi-tensor.js';

/**
 * The single-tensor WebGPU kernel, for calls that step one variable (gradient release's
 * `stepParam`, accumulation-only moment updates); whole steps run in `webgpu-multi-tensor.ts`.
 *
 * It runs that file's pipelines (same WGSL, same barrier-free fixed-order sums, so a variable
 * steps exactly as in a batched step) on a one-entry table, with the variable's and moments' own
 * GPU buffers bound in place: no packing copies, no tensor per program. Phase 1 (`updateMoments`)
 * dispatches `moments` and `sums` and returns the sum as a scalar tensor whose buffer `sums` wrote;
 * phase 2 (`applyUpdate`) dispatches `update`, which derives RMS and the clipped lr from it on the
 * device. Nothing is read back. Each phase submits tfjs's encoder before releasing its scratch
 * buffers to tfjs's pool (a pooled buffer may be rewritten on the queue timeline at once).
 */

const NO_MOMENTS: MomentScalars = { beta1Hat: 0, beta2Hat: 0, epsSq: 0, gradScale: 1, reduce: false };
const NO_UPDATE: UpdateScalars = { lr: 0, numel: 0, eps: 0, weightDecayPerLr: 0, kahan: false };
const STATE_FIX = 'The optimizer state was disposed: build a new optimizer.';

function webgpuBackend(): WebGPUBackendLike {
  const backend = activeWebGPU();
  if (!backend) throw new UnsupportedBackendError('the webgpu backend has no GPUDevice', "Use kernel: 'composed'.");
  return backend;
}

const infoOf = (param: tf.Variable): TensorInfo => ({
  numel: param.size,
  dtype: 'float32',
  shape: param.shape,
  name: param.name,
});

/** A variable written in place: its own buffer, or (shared data) a fresh copy adopted after the submit. */
interface Written {
  readonly own: GPUBuffer;
  readonly bytes: number;
  readonly target: { buffer: GPUBuffer; adopt(): void };
}

function written(backend: WebGPUBackendLike, variable: tf.Variable, label: string, fix: string): Written {
  const own = bufferOf(backend, variable, label, fix);
  return { own, bytes: 4 * variable.size, target: destination(backend, variable, own) };
}

/** Layout slots 1–6 (0 is the table): a buffer, or the byte size of a pooled scratch buffer; unset: 4 bytes. */
type Bindings = Partial<Record<1 | 2 | 3 | 4 | 5 | 6, GPUBuffer | number>>;

/**
 * Records `dispatch` for one tensor on tfjs's command encoder (after its queued work) with the
 * seven bindings of the shared pipeline layout, submits, then frees the scratch buffers and
 * adopts what was written.
 */
function record(
  backend: WebGPUBackendLike,
  table: ArrayBuffer,
  bindings: Bindings,
  writes: readonly Written[],
  dispatch: (pass: GPUComputePassEncoder, pipelines: ReturnType<typeof pipelinesFor>) => void,
): void {
  const { device } = backend;
  const pipelines = pipelinesFor(device);
  const acquired: GPUBuffer[] = [];
  const acquire = (bytes: number, usage: number) => {
    const buffer = backend.bufferManager.acquireBuffer(Math.max(4, bytes), usage);
    acquired.push(buffer);
    return buffer;
  };
  const tableBuffer = acquire(table.byteLength, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST);
  device.queue.writeBuffer(tableBuffer, 0, table);
  backend.ensureCommandEncoderReady();
  backend.endComputePassEncoder();
  const encoder = backend.commandEncoder as GPUCommandEncoder;
  // Shared data is copied into the fresh buffer first: the kernels read and write in place.
  for (const { own, bytes, target } of writes) {
    if (target.buffer !== own) encoder.copyBufferToBuffer(own, 0, target.buffer, 0, bytes);
  }
  const entries = ([1, 2, 3, 4, 5, 6] as const).map((slot) => {
    const bound = bindings[slot] ?? 4;
    return { binding: slot, resource: { buffer: typeof bound === 'number' ? acquire(bound, GPUBufferUsage.STORAGE) : bound } };
  });
  const bindGroup = device.createBindGroup({
    layout: pipelines.layout,
    entries: [{ binding: 0, resource: { buffer: tableBuffer } }, ...entries],
  });
  const pass = encoder.beginComputePass();
  pass.setBindGroup(0, bindGroup);
  dispatch(pass, pipelines);
  pass.end();
  backend.submitQueue();
  for (const buffer of acquired) backend.bufferManager.releaseBuffer(buffer);
  for (const { target } of writes) target.adopt();
}

export const webgpuKernel: StableAdamWKernelV1<tf.Variable, tf.Tensor, TfjsState, tf.Scalar> = {
  updateMoments(param, grad, state, s: MomentScalars): tf.Scalar {
    const backend = webgpuBackend();
    const label = param.name;
    // Every buffer is looked up (and uploaded) before anything is recorded: a throw changes nothing.
    const g = bufferOf(backend, grad, `gradient of ${label}`, 'Pass a live float32 tf.Tensor.');
    const m = written(backend, state.expAvg, `${label} exp_avg`, STATE_FIX);
    const v = written(backend, state.expAvgSq, `${label} exp_avg_sq`, STATE_FIX);
    const { count } = blocksOf(param.size);
    // The sum lives in a scalar tensor's buffer, so phase 2 (and tfjs's memory accounting) sees a tensor.
    const sum = s.reduce ? backend.makeTensorInfo([], 'float32') : undefined;
    if (sum) backend.uploadToGPU(sum.dataId);
    const totals = sum && (backend.tensorMap.get(sum.dataId)?.resource as GPUBuffer);
    record(
      backend,
      tableOf([{ info: infoOf(param), moments: s, update: NO_UPDATE }], count),
      { 1: g, 3: m.target.buffer, 4: v.target.buffer, 5: 4 * count * WORKGROUP, ...(totals ? { 6: totals } : {}) },
      [m, v],
      (pass, { moments, sums }) => {
        pass.setPipeline(moments);
        pass.dispatchWorkgroups(count, 1);
        if (!totals) return;
        pass.setPipeline(sums);
        pass.dispatchWorkgroups(1);
      },
    );
    // Accumulation-only calls have no sum: core ignores phase 1's result then.
    return (sum ? tf.engine().makeTensorFromTensorInfo(sum) : undefined) as tf.Scalar;
  },

  applyUpdate(param, _grad, state, sumSquares, s: UpdateScalars): void {
    const backend = webgpuBackend();
    const label = param.name;
    const p = written(backend, param, label, 'Keep the variable alive while the optimizer uses it.');
    const m = bufferOf(backend, state.expAvg, `${label} exp_avg`, STATE_FIX);
    const v = bufferOf(backend, state.expAvgSq, `${label} exp_avg_sq`, STATE_FIX);
    const totals = bufferOf(backend, sumSquares, `${label} RMS sum`, STATE_FIX);
    const { count } = blocksOf(param.size);
    record(
      backend,
      tableOf([{ info: infoOf(param), moments: NO_MOMENTS, update: s }], count),
      { 2: p.target.buffer, 3: m, 4: v, 6: totals },
      [p],
      (pass, { update }) => {
        pass.setPipeline(update);
        pass.dispatchWorkgroups(count, 1);
      },
    );
    // After the submit: the sum's buffer goes back to the pool only once nothing pending reads it.
    sumSquares.dispose();
  },
};
