import type { MaybePromise } from '@stable-adamw/core';
import type { MomentScalars, UpdateScalars } from '@stable-adamw/core/adapter';
import type { GpuJsTensor } from '../tensor.js';
import { KERNEL_SETTINGS, type KernelCache } from './kernel-cache.js';
import { type DeviceControl, type KernelSource, kernelFor, unscaleFactors } from './source.js';

// The kernels of gpu.js's `webgpu` mode (see DeviceFacts.vectorKernels), four elements per thread
// (a gpu.js `Array(4)` return), as source text (see source.ts).
//
// Why: on SwiftShader a gpu.js webgpu kernel costs about as much per thread as per element moved
// (a one-element copy of 4M elements ~95 ms, the same copy four elements per thread ~50 ms), gpu.js
// webgpu has no kernel maps, and a kernel with a branch costs about as much as all its branches
// together (SwiftShader runs them masked). So a tensor takes one of two paths:
//
// - Small tensors (< SPLIT_MIN elements), where the launch costs more than its threads: two
//   launches (three past MAX_INLINE_PARTIALS partial sums). The moments launch writes one buffer,
//   Q = ⌈n/4⌉ quads: m′ at [0, 4Q), v′ at [4Q, 8Q), then 4T partial sums of (s·g)²/max(v′, ε²)
//   (threads [0, Q) write m′, [Q, 2Q) v′ and [2Q, 2Q + T) the partials, recomputing v′ from g and
//   the old v). The update adds the partials itself and reads m′ and v′ at their offsets.
// - Large tensors: five branch-free launches, m′, v′, the partial sums of g and v′, their sum,
//   and the update, each into a buffer of its own.
//
// Partial 4t + c sums element c of the quads t, t + T, t + 2T, … (neighbouring threads read
// neighbouring memory), in runs of 16 quads, so a float32 partial adds at most ⌈Q/T⌉ terms in runs.
// Lanes past n in the last quad read past the end of the inputs: WebGPU clamps out-of-bounds loads
// (robust buffer access), and those lanes are never read back nor summed.

/** Tensors of at least this many elements take the large-tensor path (see the comment above). */
export const SPLIT_MIN = 2 ** 18;

/** Partial sums per tensor the update adds itself; more go through one `finalSum` launch first. */
export const MAX_INLINE_PARTIALS = 64;

/** Partial-sum threads at most (4 partials each), so `finalSum` adds at most 1024 terms. */
const MAX_PARTIAL_THREADS = 256;

/** Quads one partial thread covers at least before another thread is added. */
const QUADS_PER_PARTIAL_THREAD = 256;

/**
 * The quad a partial thread reads at step k of run r, its threads starting at thread `first`
 * (inline: gpu.js would type a local copy f32).
 */
const quad = (first: string) => `(this.thread.x - ${first} + (16 * r + k) * this.constants.partialThreads)`;

/** The partial sums' loop: `ratio(q, c)` adds element c of quad q to `run${c}`. */
const partialsLoop = (q: string, ratio: (q: string, c: number) => string) => `
  let sum0 = 0;
  let sum1 = 0;
  let sum2 = 0;
  let sum3 = 0;
  let gj = 0;
  let vj = 0;
  for (let r = 0; r < this.constants.runs; r++) {
    let run0 = 0;
    let run1 = 0;
    let run2 = 0;
    let run3 = 0;
    for (let k = 0; k < 16; k++) {
      if (${q} < this.constants.quads) {${ratio(q, 0)}
        if (4 * ${q} + 1 < this.constants.n) {${ratio(q, 1)}
        }
        if (4 * ${q} + 2 < this.constants.n) {${ratio(q, 2)}
        }
        if (4 * ${q} + 3 < this.constants.n) {${ratio(q, 3)}
        }
      }
    }
    sum0 += run0;
    sum1 += run1;
    sum2 += run2;
    sum3 += run3;
  }
  return [sum0, sum1, sum2, sum3];`;

/** Recomputes v′ from g and the old v (at 4Q in `mv`). */
const RECOMPUTED_RATIO = (q: string, c: number) => `
        gj = g[4 * ${q} + ${c}] * gradA * gradB;
        vj = mv[4 * this.constants.quads + 4 * ${q} + ${c}] * beta2Hat + beta2c * (gj * gj);
        run${c} += (gj * gj) / Math.max(vj, epsSq);`;

/** Reads v′. */
const RATIO = (q: string, c: number) => `
        gj = g[4 * ${q} + ${c}] * gradA * gradB;
        vj = v[4 * ${q} + ${c}];
        run${c} += (gj * gj) / Math.max(vj, epsSq);`;

/** Index of element c of the gradient quad `this.thread.x - first` (`first` empty: 0). */
const gradIndex = (first: string, c: number) => (first ? `4 * this.thread.x - 4 * ${first} + ${c}` : `4 * this.thread.x + ${c}`);

/** m′ ← m + (1−β̂1)(s·g − m), with m in `m` at the thread's own quad. */
const EXP_AVG = (m: string) => (c: number) =>
  `${m}[4 * this.thread.x + ${c}] + beta1c * (g[${gradIndex('', c)}] * gradA * gradB - ${m}[4 * this.thread.x + ${c}])`;

/** v′ ← β̂2·v + (1−β̂2)·(s·g)², the four (s·g) of the quad in g0…g3. */
const EXP_AVG_SQ = (v: string) => (c: number) => `${v}[4 * this.thread.x + ${c}] * beta2Hat + beta2c * (g${c} * g${c})`;

/** g0…g3: the scaled gradient of quad `this.thread.x - first`. */
const SCALED_GRADS = (first: string, indent: string) =>
  [0, 1, 2, 3].map((c) => `${indent}const g${c} = g[${gradIndex(first, c)}] * gradA * gradB;`).join('\n');

const quadOf = (element: (c: number) => string) => `[${[0, 1, 2, 3].map(element).join(', ')}]`;

/** Small tensors: m′, v′ and the partials into one buffer; `mv` holds the old m and v at 0 and 4Q. */
const MOMENTS_KERNEL: KernelSource = `function vectorMomentsKernel(g, mv, beta1c, beta2Hat, beta2c, epsSq, gradA, gradB) {
  if (this.thread.x < this.constants.quads) {
    return ${quadOf(EXP_AVG('mv'))};
  }
  if (this.thread.x < 2 * this.constants.quads) {
${SCALED_GRADS('this.constants.quads', '    ')}
    return ${quadOf(EXP_AVG_SQ('mv'))};
  }${partialsLoop(quad('2 * this.constants.quads'), RECOMPUTED_RATIO)}
}`;

/** Large tensors: m′. */
const EXP_AVG_KERNEL: KernelSource = `function vectorExpAvgKernel(g, m, beta1c, gradA, gradB) {
  return ${quadOf(EXP_AVG('m'))};
}`;

/** Large tensors: v′. */
const EXP_AVG_SQ_KERNEL: KernelSource = `function vectorExpAvgSqKernel(g, v, beta2Hat, beta2c, gradA, gradB) {
${SCALED_GRADS('', '  ')}
  return ${quadOf(EXP_AVG_SQ('v'))};
}`;

/** Large tensors: the partial sums of (s·g)²/max(v′, ε²), T threads of 4. */
const PARTIALS_KERNEL: KernelSource = `function vectorPartialsKernel(g, v, epsSq, gradA, gradB) {${partialsLoop(quad('0'), RATIO)}
}`;

/** The sum of the partials (at `partialOffset` in `partials`), in runs of 16. */
const FINAL_SUM_KERNEL: KernelSource = `function vectorFinalSumKernel(partials) {
  let sum = 0;
  for (let r = 0; r < this.constants.partialRuns; r++) {
    let run = 0;
    for (let k = 0; k < 16; k++) {
      if (16 * r + k < this.constants.partials) {
        run += partials[this.constants.partialOffset + 16 * r + k];
      }
    }
    sum += run;
  }
  return sum;
}`;

const STEP = (c: number) =>
  `p[4 * this.thread.x + ${c}] * decay - (eta * m[4 * this.thread.x + ${c}]) / (Math.sqrt(v[this.constants.vOffset + 4 * this.thread.x + ${c}]) + eps)`;

/**
 * Phase 2: the tensor's sum from `sums[sumOffset …]` (`sumCount` terms), η = lr / max(1, RMS) (a
 * NaN RMS does not clip, like optimi), θ ← θ·(1 − η·decayPerLr) − η·m′/(√v′ + ε), v′ at `vOffset`
 * in `v` (a small tensor's m and v are one buffer, passed twice).
 */
const UPDATE_KERNEL: KernelSource = `function vectorUpdateKernel(p, m, v, sums, lr, numel, eps, decayPerLr) {
  let total = 0;
  for (let k = 0; k < this.constants.sumCount; k++) {
    total += sums[this.constants.sumOffset + k];
  }
  const rms = Math.sqrt(total / numel);
  let clip = 1;
  if (rms > 1) {
    clip = rms;
  }
  const eta = lr / clip;
  const decay = 1 - eta * decayPerLr;
  return ${quadOf(STEP)};
}`;

/** How one tensor's step is cut (see the comment at the top). */
export interface VectorLayout {
  readonly n: number;
  /** Quads, ⌈n/4⌉: threads of the update and of each moment. */
  readonly quads: number;
  /** Whether the tensor takes the large-tensor path: m′, v′ and the partials in buffers of their own. */
  readonly split: boolean;
  /** Threads that write partial sums, 4 each. */
  readonly partialThreads: number;
  /** Partial sums, 4 × partialThreads. */
  readonly partials: number;
  /** Whether the update adds the partials itself (no `finalSum` launch). */
  readonly inline: boolean;
}

export function vectorLayout(n: number): VectorLayout {
  const quads = Math.ceil(n / 4);
  const partialThreads = Math.min(MAX_PARTIAL_THREADS, Math.ceil(quads / QUADS_PER_PARTIAL_THREAD));
  const partials = 4 * partialThreads;
  return { n, quads, split: n >= SPLIT_MIN, partialThreads, partials, inline: partials <= MAX_INLINE_PARTIALS };
}

/**
 * Where a launch writes: a shared kernel with a fresh output per launch (`owner` undefined), or a
 * kernel of one tensor's own that rewrites its one output buffer (`immutable: false`). gpu.js
 * zero-fills every fresh buffer, and on SwiftShader that costs about as much as the kernel itself
 * (~95 ms per 16 MiB): large tensors alternate between two kernels of their own, so each step
 * writes the buffer the step before last wrote (`parity` 0 or 1) and never the one it reads.
 */
export interface Target {
  readonly owner: string | undefined;
  readonly parity: number;
}

const SHARED: Target = { owner: undefined, parity: 0 };

/**
 * Launches `source` on `threads` threads, compiled once per kernel name, tensor length and target;
 * every kernel gets the layout's constants.
 */
function launch(
  kernels: KernelCache,
  name: string,
  source: KernelSource,
  layout: VectorLayout,
  target: Target,
  threads: number,
  ...args: unknown[]
): MaybePromise<GpuJsTensor> {
  const { n, quads, split, partialThreads, partials, inline } = layout;
  const partialOffset = split ? 0 : 8 * quads;
  const constants: Record<string, number> = {
    n,
    quads,
    partialThreads,
    partials,
    runs: Math.ceil(Math.ceil(quads / partialThreads) / 16),
    partialRuns: Math.ceil(partials / 16),
    partialOffset,
    vOffset: split ? 0 : 4 * quads,
    sumOffset: inline ? partialOffset : 0,
    sumCount: inline ? partials : 1,
  };
  const key = target.owner === undefined ? `${name}:${n}` : `${name}:${n}:${target.owner}:${target.parity}`;
  return kernels.launch(
    key,
    (gpu) =>
      gpu.createKernel(source, {
        ...KERNEL_SETTINGS,
        immutable: target.owner === undefined,
        output: [threads],
        constants,
        constantTypes: Object.fromEntries(Object.keys(constants).map((name) => [name, 'Integer'])),
      }),
    ...args,
  ) as MaybePromise<GpuJsTensor>;
}

/** The quad of `array` at `4 · this.thread.x`: what a skipped step copies (see `kernelFor`). */
const COPY = (array: string) => `return ${quadOf((c) => `${array}[4 * this.thread.x + ${c}]`)};`;

/**
 * Small tensors: m′, v′ and the partials into one buffer, from the old m and v in one buffer `mv`.
 * A skipped step (`control`) copies m and v (thread t < 2Q writes quad t of `mv`) and sums 0.
 */
export function launchVectorMoments(
  kernels: KernelCache,
  layout: VectorLayout,
  target: Target,
  grad: GpuJsTensor,
  mv: GpuJsTensor,
  { beta1Hat, beta2Hat, epsSq, gradScale }: MomentScalars,
  control?: DeviceControl,
): MaybePromise<GpuJsTensor> {
  const threads = 2 * layout.quads + layout.partialThreads;
  const [gradA, gradB] = unscaleFactors(gradScale);
  const k = kernelFor(
    'vectorMoments',
    MOMENTS_KERNEL,
    `if (this.thread.x < 2 * this.constants.quads) {\n      ${COPY('mv')}\n    }\n    return [0, 0, 0, 0];`,
    { beta1c: 1 - beta1Hat, beta2Hat, beta2c: 1 - beta2Hat, epsSq, gradA, gradB },
    control,
  );
  return launch(kernels, k.key, k.source, layout, target, threads, grad, mv, ...k.args);
}

/** Large tensors: m′ (a skipped step copies m). */
export function launchVectorExpAvg(
  kernels: KernelCache,
  layout: VectorLayout,
  target: Target,
  grad: GpuJsTensor,
  expAvg: GpuJsTensor,
  { beta1Hat, gradScale }: MomentScalars,
  control?: DeviceControl,
): MaybePromise<GpuJsTensor> {
  const [gradA, gradB] = unscaleFactors(gradScale);
  const k = kernelFor('vectorExpAvg', EXP_AVG_KERNEL, COPY('m'), { beta1c: 1 - beta1Hat, gradA, gradB }, control);
  return launch(kernels, k.key, k.source, layout, target, layout.quads, grad, expAvg, ...k.args);
}

/** Large tensors: v′ (a skipped step copies v). */
export function launchVectorExpAvgSq(
  kernels: KernelCache,
  layout: VectorLayout,
  target: Target,
  grad: GpuJsTensor,
  expAvgSq: GpuJsTensor,
  { beta2Hat, gradScale }: MomentScalars,
  control?: DeviceControl,
): MaybePromise<GpuJsTensor> {
  const [gradA, gradB] = unscaleFactors(gradScale);
  const k = kernelFor('vectorExpAvgSq', EXP_AVG_SQ_KERNEL, COPY('v'), { beta2Hat, beta2c: 1 - beta2Hat, gradA, gradB }, control);
  return launch(kernels, k.key, k.source, layout, target, layout.quads, grad, expAvgSq, ...k.args);
}

/** Large tensors: the partial sums, from g and v′ (0 on a skipped step). */
export function launchVectorPartials(
  kernels: KernelCache,
  layout: VectorLayout,
  grad: GpuJsTensor,
  expAvgSq: GpuJsTensor,
  { epsSq, gradScale }: MomentScalars,
  control?: DeviceControl,
): MaybePromise<GpuJsTensor> {
  const [gradA, gradB] = unscaleFactors(gradScale);
  const k = kernelFor('vectorPartials', PARTIALS_KERNEL, 'return [0, 0, 0, 0];', { epsSq, gradA, gradB }, control);
  return launch(kernels, k.key, k.source, layout, SHARED, layout.partialThreads, grad, expAvgSq, ...k.args);
}

/** The sum of the partials in `partials` (the small path's moments buffer, or the large path's partials), as a 1-element tensor. */
export function launchVectorFinalSum(
  kernels: KernelCache,
  layout: VectorLayout,
  partials: GpuJsTensor,
): MaybePromise<GpuJsTensor> {
  return launch(kernels, 'vectorFinalSum', FINAL_SUM_KERNEL, layout, SHARED, 1, partials);
}

/**
 * The update into a fresh (or the target's own) buffer. `sums` holds the partials when the layout
 * adds them inline, else the 1-element sum of `launchVectorFinalSum`. A skipped step (`control`) copies θ.
 */
export function launchVectorUpdate(
  kernels: KernelCache,
  layout: VectorLayout,
  target: Target,
  tensors: { param: GpuJsTensor; expAvg: GpuJsTensor; expAvgSq: GpuJsTensor; sums: GpuJsTensor },
  { lr, numel, eps, weightDecayPerLr }: UpdateScalars,
  control?: DeviceControl,
): MaybePromise<GpuJsTensor> {
  const { param, expAvg, expAvgSq, sums } = tensors;
  const k = kernelFor('vectorUpdate', UPDATE_KERNEL, COPY('p'), { lr, numel, eps, decayPerLr: weightDecayPerLr }, control);
  return launch(kernels, k.key, k.source, layout, target, layout.quads, param, expAvg, expAvgSq, sums, ...k.args);
}
