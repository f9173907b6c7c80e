import type { MomentScalars, UpdateScalars } from '@stable-adamw/core/adapter';
import { unscaleFactors } from './source.js';

// The compute pipelines of the `webgpu-multi-tensor` path (see fused-step.ts): WGSL of the
// optimizer's own, run on gpu.js's GPUDevice over packed arrays of every tensor of a batch.
//
// A batch's tensors lie one after another in four packed arrays (g, θ, m, v). A block is one
// workgroup of WORKGROUP threads and belongs to one tensor; a tensor has at most MAX_BLOCKS
// blocks, so a big tensor gets more elements per thread rather than more partial sums. Thread
// `lane` of a block walks the block's elements from `lane` in steps of WORKGROUP (neighbouring
// threads read neighbouring floats). No kernel has a workgroup barrier: SwiftShader runs those as
// coroutines, far slower than one partial sum per thread. Every sum has a fixed order, so two runs
// of a step give the same bits.
//
// The table is one array<u32>: a header (tensor count, block count, grid row width, 0), then
// ENTRY_WORDS words per tensor (u32 offset, length, first block, blocks, elements per thread; f32
// 1 − β̂1, β̂2, 1 − β̂2, ε², the two unscale factors, lr, ε, λ/lr, n), then the tensor of each block.

/** Threads per workgroup. */
export const WORKGROUP = 64;
/** Elements per thread of small tensors. */
const MIN_PER_THREAD = 16;
/** Blocks per tensor at most: phase 2 adds at most MAX_BLOCKS × WORKGROUP partials per tensor. */
const MAX_BLOCKS = 64;
const HEADER_WORDS = 4;
const ENTRY_WORDS = 15;

const SHADER = `
@group(0) @binding(0) var<storage, read> table : array<u32>;
@group(0) @binding(1) var<storage, read> grad : array<f32>;
@group(0) @binding(2) var<storage, read_write> theta : array<f32>;
@group(0) @binding(3) var<storage, read_write> expAvg : array<f32>;
@group(0) @binding(4) var<storage, read_write> expAvgSq : array<f32>;
@group(0) @binding(5) var<storage, read_write> partials : array<f32>;
@group(0) @binding(6) var<storage, read_write> totals : array<f32>;

const WG : u32 = ${WORKGROUP}u;

fn word(t : u32, k : u32) -> u32 {
  return table[${HEADER_WORDS}u + t * ${ENTRY_WORDS}u + k];
}

fn real(t : u32, k : u32) -> f32 {
  return bitcast<f32>(word(t, k));
}

// WGSL lets compilers assume comparisons see no NaN: test the bits.
fn isNan(x : f32) -> bool {
  return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}

// The block this workgroup runs, or the block count past the last one.
fn blockOf(wid : vec3<u32>) -> u32 {
  return min(wid.y * table[2] + wid.x, table[1]);
}

fn tensorOf(block : u32) -> u32 {
  return table[${HEADER_WORDS}u + table[0] * ${ENTRY_WORDS}u + block];
}

// [start, end) of block \`block\` of tensor \`t\` in the packed arrays.
fn spanOf(t : u32, block : u32) -> vec2<u32> {
  let size = WG * word(t, 4u);
  let first = (block - word(t, 2u)) * size;
  return vec2<u32>(word(t, 0u) + first, word(t, 0u) + min(first + size, word(t, 1u)));
}

// Phase 1: m and v in place, and each thread's sum of (s·g)²/max(v′, ε²) in runs of 16.
@compute @workgroup_size(${WORKGROUP})
fn moments(@builtin(workgroup_id) wid : vec3<u32>, @builtin(local_invocation_index) lane : u32) {
  let block = blockOf(wid);
  if (block == table[1]) { return; }
  let t = tensorOf(block);
  let span = spanOf(t, block);
  let beta1c = real(t, 5u);
  let beta2 = real(t, 6u);
  let beta2c = real(t, 7u);
  let epsSq = real(t, 8u);
  let gradA = real(t, 9u);
  let gradB = real(t, 10u);
  var sum = 0.0;
  var run = 0.0;
  var count = 0u;
  for (var i = span.x + lane; i < span.y; i += WG) {
    let g = grad[i] * gradA * gradB;
    let m = expAvg[i];
    expAvg[i] = m + beta1c * (g - m);
    let v = expAvgSq[i] * beta2 + beta2c * (g * g);
    expAvgSq[i] = v;
    run += (g * g) / max(v, epsSq);
    count += 1u;
    if (count == 16u) {
      sum += run;
      run = 0.0;
      count = 0u;
    }
  }
  partials[block * WG + lane] = sum + run;
}

// Phase 2: one thread per tensor adds its partials, each block's lanes and then the blocks.
@compute @workgroup_size(${WORKGROUP})
fn sums(@builtin(global_invocation_id) id : vec3<u32>) {
  let t = id.x;
  if (t >= table[0]) { return; }
  let first = word(t, 2u);
  var total = 0.0;
  for (var b = first; b < first + word(t, 3u); b++) {
    var lanes = 0.0;
    for (var k = b * WG; k < (b + 1u) * WG; k++) {
      lanes += partials[k];
    }
    total += lanes;
  }
  totals[t] = total;
}

// Phase 3: RMS and the clipped lr (a NaN RMS does not clip, as in optimi), then θ in place.
@compute @workgroup_size(${WORKGROUP})
fn update(@builtin(workgroup_id) wid : vec3<u32>, @builtin(local_invocation_index) lane : u32) {
  let block = blockOf(wid);
  if (block == table[1]) { return; }
  let t = tensorOf(block);
  let span = spanOf(t, block);
  let rms = sqrt(totals[t] / real(t, 14u));
  let lr = real(t, 11u);
  let eta = select(lr, lr / rms, !isNan(rms) && rms > 1.0);
  let decay = 1.0 - eta * real(t, 13u);
  let eps = real(t, 12u);
  for (var i = span.x + lane; i < span.y; i += WG) {
    theta[i] = theta[i] * decay - (eta * expAvg[i]) / (sqrt(expAvgSq[i]) + eps);
  }
}`;

/** The WebGPU surface the fused path uses (structural: the adapter takes no dependency on WebGPU's types). */
export interface GpuBufferLike {
  readonly size: number;
  readonly usage: number;
  destroy(): void;
}

export interface GpuPassLike {
  setPipeline(pipeline: unknown): void;
  setBindGroup(index: number, group: unknown): void;
  dispatchWorkgroups(x: number, y?: number): void;
  end(): void;
}

export interface GpuEncoderLike {
  copyBufferToBuffer(
    source: GpuBufferLike,
    sourceOffset: number,
    target: GpuBufferLike,
    targetOffset: number,
    size: number,
  ): void;
  beginComputePass(): GpuPassLike;
  finish(): unknown;
}

export interface GpuDeviceLike {
  readonly limits: {
    readonly maxStorageBufferBindingSize: number;
    readonly maxBufferSize: number;
    readonly maxComputeWorkgroupsPerDimension: number;
  };
  readonly queue: {
    writeBuffer(buffer: GpuBufferLike, offset: number, data: ArrayBufferView | ArrayBuffer): void;
    submit(commands: unknown[]): void;
  };
  createBuffer(descriptor: { size: number; usage: number }): GpuBufferLike;
  createBindGroup(descriptor: { layout: unknown; entries: { binding: number; resource: { buffer: GpuBufferLike } }[] }): unknown;
  createBindGroupLayout(descriptor: unknown): unknown;
  createPipelineLayout(descriptor: unknown): unknown;
  createShaderModule(descriptor: { code: string }): unknown;
  createComputePipeline(descriptor: unknown): unknown;
  createCommandEncoder(): GpuEncoderLike;
}

/** GPUBufferUsage and GPUShaderStage values (the globals exist only where WebGPU does). */
export const USAGE = { copySrc: 4, copyDst: 8, storage: 128 } as const;
const COMPUTE_STAGE = 4;

export interface FusedPipelines {
  readonly layout: unknown;
  readonly moments: unknown;
  readonly sums: unknown;
  readonly update: unknown;
}

const built = new WeakMap<GpuDeviceLike, FusedPipelines>();

/** The three pipelines on `device`, built once per device. */
export function fusedPipelines(device: GpuDeviceLike): FusedPipelines {
  const cached = built.get(device);
  if (cached) return cached;
  const types = ['read-only-storage', 'read-only-storage', 'storage', 'storage', 'storage', 'storage', 'storage'];
  const layout = device.createBindGroupLayout({
    entries: types.map((type, binding) => ({ binding, visibility: COMPUTE_STAGE, buffer: { type } })),
  });
  const module = device.createShaderModule({ code: SHADER });
  const pipelineLayout = device.createPipelineLayout({ bindGroupLayouts: [layout] });
  const pipeline = (entryPoint: string) =>
    device.createComputePipeline({ layout: pipelineLayout, compute: { module, entryPoint } });
  const pipelines = { layout, moments: pipeline('moments'), sums: pipeline('sums'), update: pipeline('update') };
  built.set(device, pipelines);
  return pipelines;
}

/** How a tensor of `n` elements is cut: `blocks` workgroups of `perThread` elements per thread. */
export function blocksOf(n: number): { blocks: number; perThread: number } {
  const perThread = Math.max(MIN_PER_THREAD, Math.ceil(n / (WORKGROUP * MAX_BLOCKS)));
  return { blocks: Math.ceil(n / (WORKGROUP * perThread)), perThread };
}

/** One tensor of a batch, as the table describes it. */
export interface TableTensor {
  readonly numel: number;
  readonly moments: MomentScalars;
  readonly update: UpdateScalars;
}

/** A batch's table (layout at the top of the file) and its grid, `rowWidth` workgroups per row. */
export function tableOf(
  tensors: readonly TableTensor[],
  maxGroups: number,
): { words: Uint32Array; blocks: number; grid: [number, number] } {
  const cuts = tensors.map(({ numel }) => blocksOf(numel));
  const blocks = cuts.reduce((sum, { blocks: b }) => sum + b, 0);
  const words = new Uint32Array(HEADER_WORDS + ENTRY_WORDS * tensors.length + blocks);
  const reals = new Float32Array(words.buffer);
  const rowWidth = Math.min(blocks, maxGroups);
  words.set([tensors.length, blocks, rowWidth, 0]);
  let offset = 0;
  let block = 0;
  tensors.forEach(({ numel, moments, update }, t) => {
    const at = HEADER_WORDS + ENTRY_WORDS * t;
    const cut = cuts[t] as { blocks: number; perThread: number };
    words.set([offset, numel, block, cut.blocks, cut.perThread], at);
    const [gradA, gradB] = unscaleFactors(moments.gradScale);
    reals.set(
      [
        1 - moments.beta1Hat,
        moments.beta2Hat,
        1 - moments.beta2Hat,
        moments.epsSq,
        gradA,
        gradB,
        update.lr,
        update.eps,
        update.weightDecayPerLr,
        numel,
      ],
      at + 5,
    );
    words.fill(
      t,
      HEADER_WORDS + ENTRY_WORDS * tensors.length + block,
      HEADER_WORDS + ENTRY_WORDS * tensors.length + block + cut.blocks,
    );
    offset += numel;
    block += cut.blocks;
  });
  return { words, blocks, grid: [rowWidth, rowWidth === 0 ? 0 : Math.ceil(blocks / rowWidth)] };
}
