/// <reference types="@webgpu/types" />
import { InvalidParamError } from '@stable-adamw/core';
import type { TensorStep } from '@stable-adamw/core/adapter';
import * as tf from '@tensorflow/tfjs-core';
import type { TfjsState } from '../state.js';

/**
 * tfjs-webgpu, fused and multi-tensor: every tensor of a step goes through the same three compute
 * dispatches, recorded on the device and command encoder tfjs-backend-webgpu already holds.
 *
 * Layout. WebGPU binds a fixed number of buffers per pipeline (8 storage buffers by default), so
 * a constant dispatch count needs every tensor of a batch in the same few buffers. The params and
 * gradients are the user's tensors (one GPU buffer each) and the moments are `tf.Variable`s (so the
 * composed kernels, state dicts and backend switches keep working on them), so each batch is
 * gathered with `copyBufferToBuffer` into four packed scratch buffers (g, θ, m, v) taken from
 * tfjs's buffer pool, the dispatches run over the packed arrays, and θ, m and v are copied back
 * into the variables' own buffers. Copies are not dispatches: the count per step is 3 per batch,
 * and a batch holds as many tensors as `maxStorageBufferBindingSize` allows (every tensor of a
 * typical model). Nothing is read back and no tensor is created per step.
 *
 * Cost. The copies (56 B/param) are plain memcpys and cheap next to the kernels (on SwiftShader,
 * ~1 ms per 16 MB copied against ~70 ms per 4M elements of a pass). No kernel uses a workgroup
 * barrier: SwiftShader runs barrier kernels as coroutines, and a tree reduction made phase 1 ~16×
 * slower than one partial sum per thread. Every sum has a fixed order, so a step is deterministic.
 *
 * Phases (optimi-spec §1):
 * 1. `moments`: g ← g·gradScale (a loss scaler's unscale, or 1); m ← m + (1−β̂1)(g − m);
 *    v ← β̂2·v + (1−β̂2)·g²; each thread sums g²/max(v′, ε²) over its elements (strided by the
 *    workgroup size, so neighbouring threads read neighbouring elements; in runs of 16) into one
 *    partial. A block (one workgroup) belongs to one tensor, and a tensor has at most
 *    `MAX_BLOCKS` of them: big tensors get more elements per thread rather than more partials.
 * 2. `sums`: one thread per tensor adds its ≤ 4096 partials (a block's 64, then the block sums).
 *    Bounding the partials keeps this serial pass short on real GPUs too.
 * 3. `update`: RMS = √(total/n); η = lr / max(1, RMS) with NaN → no clip; θ ← θ·(1 − η·λ′) − η·m/(√v + ε).
 *
 * `nonFinite: 'skip'` runs a variant of the same three dispatches (`webgpu-skip-shader.ts`, host
 * side in `device-skip.ts` and `webgpu-device-skip.ts`): phase 1 writes no moment and flags a non-finite gradient,
 * phase 2 updates the counters on the device, phase 3 recomputes the moments and writes them and
 * θ unless the step was skipped. Nothing is read back synchronously there either.
 */

/** Threads per workgroup; each thread of phases 1 and 3 owns one partial sum. */
export const WORKGROUP = 64;
/** Elements per thread of small tensors. */
const PER_THREAD = 16;
/** Blocks (workgroups) per tensor at most, so phase 2 sums at most 64 × 64 partials per tensor. */
const MAX_BLOCKS = 64;
/** Bytes of one table entry: 5 u32 + 9 f32. */
const ENTRY_BYTES = 56;
/** Bytes of the table header: tensorCount, blockCount, rowWidth, padding. */
const HEADER_BYTES = 16;

/** WGSL both step shaders share: the NaN test and the block → tensor lookup (over a \`table\` with sorted \`firstBlock\`s). */
export const WGSL_HELPERS = `
// Bit test: WGSL lets compilers assume no NaN in comparisons.
fn isNan(x : f32) -> bool {
  return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}

// The entry whose blocks hold \`block\` (binary search over firstBlock).
fn tensorOf(block : u32) -> u32 {
  var lo = 0u;
  var hi = table.tensorCount - 1u;
  while (lo < hi) {
    let mid = (lo + hi + 1u) / 2u;
    if (table.entries[mid].firstBlock <= block) { lo = mid; } else { hi = mid - 1u; }
  }
  return lo;
}`;

/**
 * WGSL: thread \`lane\` of block \`block\` of tensor entry \`e\` runs \`body\` for each of its
 * elements \`j\`, strided by the workgroup size so that neighbouring threads read neighbouring
 * elements.
 */
export function wgslThreadLoop(body: string): string {
  return `let span = ${WORKGROUP}u * e.perThread;
  let base = (block - e.firstBlock) * span;
  let end = e.offset + min(base + span, e.length);
  for (var j = e.offset + base + lane; j < end; j += ${WORKGROUP}u) {${body}
  }`;
}

/** WGSL: \`total\`, the sum of tensor entry \`e\`'s partials in \`partials\`, in a fixed order (each block's lanes, then the blocks). */
export function wgslTensorTotal(partials: string): string {
  return `let first = e.firstBlock * ${WORKGROUP}u;
  let end = first + e.blocks * ${WORKGROUP}u;
  var total = 0.0;
  for (var b = first; b < end; b += ${WORKGROUP}u) {
    var lanes = 0.0;
    for (var k = b; k < b + ${WORKGROUP}u; k++) { lanes += ${partials}[k]; }
    total += lanes;
  }`;
}

/** A bind-group layout of storage buffers (one per binding, in order) and one compute pipeline per entry point of \`code\`. */
export function buildPipelines<K extends string>(
  device: GPUDevice,
  code: string,
  bindings: readonly GPUBufferBindingType[],
  entryPoints: readonly K[],
): { readonly layout: GPUBindGroupLayout } & Readonly<Record<K, GPUComputePipeline>> {
  const layout = device.createBindGroupLayout({
    entries: bindings.map((type, binding) => ({ binding, visibility: GPUShaderStage.COMPUTE, buffer: { type } })),
  });
  const module = device.createShaderModule({ code });
  const pipelineLayout = device.createPipelineLayout({ bindGroupLayouts: [layout] });
  const pipelines = Object.fromEntries(
    entryPoints.map((entryPoint) => [
      entryPoint,
      device.createComputePipeline({ layout: pipelineLayout, compute: { module, entryPoint } }),
    ]),
  ) as Record<K, GPUComputePipeline>;
  return { layout, ...pipelines };
}

const SHADER = `
struct Entry {
  offset : u32, length : u32, firstBlock : u32, blocks : u32, perThread : u32,
  w1 : f32, beta2 : f32, w2 : f32, epsSq : f32,
  lr : f32, eps : f32, decayPerLr : f32, numel : f32,
  gradScale : f32,
}
struct Table { tensorCount : u32, blockCount : u32, rowWidth : u32, pad : u32, entries : array<Entry> }

@group(0) @binding(0) var<storage, read> table : Table;
@group(0) @binding(1) var<storage, read> grad : array<f32>;
@group(0) @binding(2) var<storage, read_write> param : array<f32>;
@group(0) @binding(3) var<storage, read_write> expAvg : array<f32>;
@group(0) @binding(4) var<storage, read_write> expAvgSq : array<f32>;
@group(0) @binding(5) var<storage, read_write> partials : array<f32>;
@group(0) @binding(6) var<storage, read_write> totals : array<f32>;
${WGSL_HELPERS}

// Phase 1: moments, and one partial ratio sum per thread (threads past the tensor's end write 0).
@compute @workgroup_size(${WORKGROUP})
fn moments(@builtin(workgroup_id) wid : vec3<u32>, @builtin(local_invocation_index) lane : u32) {
  let block = wid.y * table.rowWidth + wid.x;
  if (block >= table.blockCount) { return; }
  let e = table.entries[tensorOf(block)];
  var sum = 0.0;
  var run = 0.0;
  var count = 0u;
  ${wgslThreadLoop(`
    let g = grad[j] * e.gradScale;
    let m = expAvg[j];
    expAvg[j] = m + e.w1 * (g - m);
    let v = expAvgSq[j] * e.beta2 + e.w2 * (g * g);
    expAvgSq[j] = v;
    run += (g * g) / max(v, e.epsSq);
    count++;
    if (count == 16u) {
      sum += run;
      run = 0.0;
      count = 0u;
    }`)}
  partials[block * ${WORKGROUP}u + lane] = sum + run;
}

// Phase 2: each tensor's total from its partials, one thread per tensor, in a fixed order.
@compute @workgroup_size(${WORKGROUP})
fn sums(@builtin(global_invocation_id) id : vec3<u32>) {
  let t = id.x;
  if (t >= table.tensorCount) { return; }
  let e = table.entries[t];
  ${wgslTensorTotal('partials')}
  totals[t] = total;
}

// Phase 3: RMS and the clipped lr on the device, then decay and the Adam step.
@compute @workgroup_size(${WORKGROUP})
fn update(@builtin(workgroup_id) wid : vec3<u32>, @builtin(local_invocation_index) lane : u32) {
  let block = wid.y * table.rowWidth + wid.x;
  if (block >= table.blockCount) { return; }
  let t = tensorOf(block);
  let e = table.entries[t];
  let rms = sqrt(totals[t] / e.numel);
  let eta = select(e.lr, e.lr / rms, !isNan(rms) && rms > 1.0);
  let decay = 1.0 - eta * e.decayPerLr;
  ${wgslThreadLoop(`
    param[j] = param[j] * decay - (eta * expAvg[j]) / (sqrt(expAvgSq[j]) + e.eps);`)}
}`;

/** The part of tfjs-backend-webgpu's `WebGPUBackend` this kernel uses (structural: no hard dependency). */
export interface WebGPUBackendLike {
  readonly device: GPUDevice;
  readonly commandEncoder: GPUCommandEncoder | null;
  readonly bufferManager: {
    acquireBuffer(size: number, usage: number): GPUBuffer;
    releaseBuffer(buffer: GPUBuffer): void;
  };
  readonly tensorMap: { get(dataId: object): { resource?: unknown; values?: unknown } | undefined };
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  submitQueue(): void;
  uploadToGPU(dataId: object): void;
  refCount(dataId: object): number;
  makeTensorInfo(shape: number[], dtype: 'float32'): tf.TensorInfo;
}

/** The active backend as tfjs-backend-webgpu's, when it is one. */
export function activeWebGPU(): WebGPUBackendLike | undefined {
  const backend = tf.backend() as unknown as Partial<WebGPUBackendLike>;
  return tf.getBackend() === 'webgpu' && backend.device ? (backend as WebGPUBackendLike) : undefined;
}

export interface Pipelines {
  readonly layout: GPUBindGroupLayout;
  readonly moments: GPUComputePipeline;
  readonly sums: GPUComputePipeline;
  readonly update: GPUComputePipeline;
}

const pipelineCache = new WeakMap<GPUDevice, Pipelines>();

export function pipelinesFor(device: GPUDevice): Pipelines {
  const cached = pipelineCache.get(device);
  if (cached) return cached;
  const storage = ['read-only-storage', 'read-only-storage', ...Array<GPUBufferBindingType>(5).fill('storage')] as const;
  const built = buildPipelines(device, SHADER, storage, ['moments', 'sums', 'update']);
  pipelineCache.set(device, built);
  return built;
}

type Step = TensorStep<tf.Variable, tf.Tensor, TfjsState>;

/** Where one tensor of a step lives on the device. */
interface Resident {
  readonly step: Step;
  /** The buffers read (g, θ, m, v). */
  readonly sources: readonly [GPUBuffer, GPUBuffer, GPUBuffer, GPUBuffer];
}

/** The largest float32 element count one binding of this device holds. */
export function maxBindingElements(backend: WebGPUBackendLike): number {
  const { maxStorageBufferBindingSize, maxBufferSize } = backend.device.limits;
  return Math.floor(Math.min(maxStorageBufferBindingSize, maxBufferSize) / 4);
}

/** The GPU buffer behind `tensor`, uploaded if its values are still on the CPU; throws before anything is recorded. */
export function bufferOf(backend: WebGPUBackendLike, tensor: tf.Tensor, label: string, fix: string): GPUBuffer {
  if (tensor.isDisposed) throw new InvalidParamError(label, 'is disposed', fix);
  backend.uploadToGPU(tensor.dataId);
  const resource = backend.tensorMap.get(tensor.dataId)?.resource;
  if (!(resource instanceof GPUBuffer)) {
    throw new InvalidParamError(label, 'is not held in a WebGPU buffer', "Use kernel: 'composed' for this variable.");
  }
  return resource;
}

/** Splits the step into batches whose packed arrays each fit one binding (and one dispatch grid). */
function batches(residents: readonly Resident[], maxElements: number): Resident[][] {
  const out: Resident[][] = [];
  let current: Resident[] = [];
  let elements = 0;
  for (const resident of residents) {
    const n = resident.step.info.numel;
    if (current.length > 0 && (elements + n > maxElements || current.length === 65_535)) {
      out.push(current);
      current = [];
      elements = 0;
    }
    current.push(resident);
    elements += n;
  }
  if (current.length > 0) out.push(current);
  return out;
}

/** How a tensor of `n` elements is cut: `count` blocks of `WORKGROUP` threads, `perThread` elements each. */
export function blocksOf(n: number): { count: number; perThread: number } {
  const perThread = Math.max(PER_THREAD, Math.ceil(n / (WORKGROUP * MAX_BLOCKS)));
  return { count: Math.ceil(n / (WORKGROUP * perThread)), perThread };
}

/** The table of one batch: header, then (offset, length, firstBlock, blocks, perThread, scalars incl. gradScale) per tensor. */
export function tableOf(batch: readonly Pick<Step, 'info' | 'moments' | 'update'>[], rowWidth: number): ArrayBuffer {
  const bytes = new ArrayBuffer(HEADER_BYTES + ENTRY_BYTES * batch.length);
  const u32 = new Uint32Array(bytes);
  const f32 = new Float32Array(bytes);
  let offset = 0;
  let blocks = 0;
  batch.forEach(({ info, moments, update }, t) => {
    const at = (HEADER_BYTES + ENTRY_BYTES * t) / 4;
    const n = info.numel;
    const { count, perThread } = blocksOf(n);
    u32.set([offset, n, blocks, count, perThread], at);
    f32.set(
      [
        1 - moments.beta1Hat,
        moments.beta2Hat,
        1 - moments.beta2Hat,
        moments.epsSq,
        update.lr,
        update.eps,
        update.weightDecayPerLr,
        n,
        moments.gradScale,
      ],
      at + 5,
    );
    offset += n;
    blocks += count;
  });
  u32.set([batch.length, blocks, rowWidth, 0], 0);
  return bytes;
}

/**
 * Where θ, m or v is written back: its own buffer, or a fresh one when another tensor shares the
 * data (a `tf.Variable` shares its initial tensor's or an assigned tensor's data until that is
 * freed), so writing in place never changes another tensor.
 */
export function destination(
  backend: WebGPUBackendLike,
  variable: tf.Variable,
  own: GPUBuffer,
): { buffer: GPUBuffer; adopt(): void } {
  if (backend.refCount(variable.dataId) <= 1) {
    // tfjs keeps the values of the last read on the CPU and would serve them again: drop them.
    const data = backend.tensorMap.get(variable.dataId);
    return {
      buffer: own,
      adopt() {
        if (data) data.values = null;
      },
    };
  }
  const info = backend.makeTensorInfo([...variable.shape], 'float32');
  backend.uploadToGPU(info.dataId);
  const buffer = backend.tensorMap.get(info.dataId)?.resource as GPUBuffer;
  return {
    buffer,
    adopt() {
      const fresh = tf.engine().makeTensorFromTensorInfo(info);
      variable.assign(fresh);
      fresh.dispose();
    },
  };
}

/**
 * The skip-mode variant of a step (`nonFinite: 'skip'` decided on the device; built by
 * `WebGPUCounters.step`, shaders in `webgpu-skip-shader.ts`): its pipelines (layout slots 0–4 as
 * here, 5 partials then totals, 6 the control buffer, 7 the betas table), each batch's table, and
 * what to record after the step (the counters' copies).
 */
export interface SkipPlan {
  readonly layout: GPUBindGroupLayout;
  /** Phase 1 (ratios and the flag), 2 (totals and the counters), 3 (the update, unless skipped). */
  readonly phases: readonly [GPUComputePipeline, GPUComputePipeline, GPUComputePipeline];
  readonly control: GPUBuffer;
  /** (1 − β̂1, β̂2, 1 − β̂2) per group and candidate step. */
  readonly betas: Float32Array<ArrayBuffer>;
  /** A batch's table; the step's last batch `finalize`s the counters. */
  table(batch: readonly Step[], rowWidth: number, finalize: boolean): ArrayBuffer;
  /** Records what follows the step on its encoder (copies only). */
  after(encoder: GPUCommandEncoder): void;
}

/** One batch as recorded: its bind group and grid, and its tensors' packed buffers. */
interface Recorded {
  readonly batch: readonly Resident[];
  readonly packed: readonly [GPUBuffer, GPUBuffer, GPUBuffer, GPUBuffer];
  readonly bindGroup: GPUBindGroup;
  readonly grid: readonly [number, number];
  readonly tensors: number;
}

/**
 * One step of every tensor in `steps` on the webgpu backend: validated and uploaded first (a
 * throw changes nothing), then recorded after tfjs's queued work on its own command encoder and
 * submitted with it. Returns the number of batches (3 dispatches each).
 *
 * With `skip`, the step runs the skip-mode dispatches phase by phase across batches (every
 * batch's phase 1 before the counters are finalized, every phase 3 after), and a step without
 * tensors still runs phase 2 once (the device counts it).
 */
export function stepWebGPUMultiTensor(backend: WebGPUBackendLike, steps: readonly Step[], skip?: SkipPlan): number {
  const residents: Resident[] = steps.map((step) => {
    const label = step.info.name ?? 'param';
    const stateFix = 'The optimizer state was disposed: build a new optimizer.';
    return {
      step,
      sources: [
        bufferOf(backend, step.grad, `gradient of ${label}`, 'Pass a live float32 tf.Tensor.'),
        bufferOf(backend, step.param, label, 'Keep the variable alive while the optimizer uses it.'),
        bufferOf(backend, step.state.expAvg, `${label} exp_avg`, stateFix),
        bufferOf(backend, step.state.expAvgSq, `${label} exp_avg_sq`, stateFix),
      ],
    };
  });
  const { device } = backend;
  const maxGroups = device.limits.maxComputeWorkgroupsPerDimension;
  const groups = batches(residents, maxBindingElements(backend));
  // The device counts a skip-mode step without tensors too.
  if (skip && groups.length === 0) groups.push([]);
  // tfjs's queued dispatches come first: close its compute pass and record after it.
  backend.ensureCommandEncoderReady();
  backend.endComputePassEncoder();
  const encoder = backend.commandEncoder as GPUCommandEncoder;
  const acquired: GPUBuffer[] = [];
  const acquire = (bytes: number, usage: number) => {
    const buffer = backend.bufferManager.acquireBuffer(Math.max(4, bytes), usage);
    acquired.push(buffer);
    return buffer;
  };
  const packedUsage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
  // Written on the queue timeline: the previous step's commands that read them were submitted before they were released.
  const upload = (bytes: ArrayBuffer | Float32Array<ArrayBuffer>) => {
    const buffer = acquire(bytes.byteLength, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST);
    device.queue.writeBuffer(buffer, 0, bytes);
    return buffer;
  };
  const betas = skip && upload(skip.betas);
  const recorded: Recorded[] = groups.map((batch, b) => {
    const elements = batch.reduce((sum, { step }) => sum + step.info.numel, 0);
    const totalBlocks = batch.reduce((sum, { step }) => sum + blocksOf(step.info.numel).count, 0);
    const rowWidth = Math.min(totalBlocks, maxGroups);
    const stepsOf = batch.map((r) => r.step);
    const table = upload(skip ? skip.table(stepsOf, rowWidth, b === groups.length - 1) : tableOf(stepsOf, rowWidth));
    const packed = [0, 1, 2, 3].map(() => acquire(4 * elements, packedUsage)) as [GPUBuffer, GPUBuffer, GPUBuffer, GPUBuffer];
    const partials = 4 * totalBlocks * WORKGROUP;
    const scratch = skip
      ? [acquire(partials + 4 * batch.length, GPUBufferUsage.STORAGE), skip.control, betas as GPUBuffer]
      : [acquire(partials, GPUBufferUsage.STORAGE), acquire(4 * batch.length, GPUBufferUsage.STORAGE)];
    let offset = 0;
    for (const { step, sources } of batch) {
      const size = 4 * step.info.numel;
      sources.forEach((source, k) => {
        encoder.copyBufferToBuffer(source, 0, packed[k] as GPUBuffer, 4 * offset, size);
      });
      offset += step.info.numel;
    }
    const bindGroup = device.createBindGroup({
      layout: skip ? skip.layout : pipelinesFor(device).layout,
      entries: [table, ...packed, ...scratch].map((buffer, binding) => ({ binding, resource: { buffer } })),
    });
    const grid = [rowWidth, rowWidth === 0 ? 0 : Math.ceil(totalBlocks / rowWidth)] as const;
    return { batch, packed, bindGroup, grid, tensors: batch.length };
  });
  const pass = encoder.beginComputePass();
  const dispatch = (phase: number, { bindGroup, grid, tensors }: Recorded) => {
    pass.setBindGroup(0, bindGroup);
    if (phase === 1) pass.dispatchWorkgroups(Math.max(1, Math.ceil(tensors / WORKGROUP)));
    else if (grid[0] > 0) pass.dispatchWorkgroups(grid[0], grid[1]);
  };
  if (skip) {
    // Phase-major: the counters are finalized after every batch's flag, and read by every phase 3.
    skip.phases.forEach((pipeline, phase) => {
      pass.setPipeline(pipeline);
      for (const r of recorded) dispatch(phase, r);
    });
  } else {
    const { moments, sums, update } = pipelinesFor(device);
    for (const r of recorded) {
      [moments, sums, update].forEach((pipeline, phase) => {
        pass.setPipeline(pipeline);
        dispatch(phase, r);
      });
    }
  }
  pass.end();
  const adopt: (() => void)[] = [];
  for (const { batch, packed } of recorded) {
    let offset = 0;
    for (const { step, sources } of batch) {
      const size = 4 * step.info.numel;
      const written: [tf.Variable, GPUBuffer, number][] = [
        [step.param, sources[1], 1],
        [step.state.expAvg, sources[2], 2],
        [step.state.expAvgSq, sources[3], 3],
      ];
      for (const [variable, own, k] of written) {
        const target = destination(backend, variable, own);
        encoder.copyBufferToBuffer(packed[k] as GPUBuffer, 4 * offset, target.buffer, 0, size);
        adopt.push(target.adopt);
      }
      offset += step.info.numel;
    }
  }
  skip?.after(encoder);
  backend.submitQueue();
  for (const buffer of acquired) backend.bufferManager.releaseBuffer(buffer);
  for (const fn of adopt) fn();
  return groups.length;
}
