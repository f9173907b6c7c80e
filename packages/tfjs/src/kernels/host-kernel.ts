import {
  clippedLearningRate,
  type MomentScalars,
  rmsFromSum,
  type StableAdamWKernelV1,
  type TensorStep,
  type UpdateScalars,
} from '@stable-adamw/core/adapter';
import * as tf from '@tensorflow/tfjs-core';
import type { TfjsState } from '../state.js';
import { hostStepModule } from './wasm-host-step.js';

/**
 * tfjs-cpu and tfjs-wasm, fused: both backends keep float32 values in host memory (JS typed
 * arrays; the WASM heap), so each phase is one loop over those arrays, in place. The composed ops
 * make ~16 full-size passes with a fresh output each; this reads g, m, v and θ and writes m, v and θ
 * once (36 B/param) and sums the RMS in float64, like the cpu adapter's JS kernel. On tfjs-wasm the
 * loops are WebAssembly SIMD running on the backend's own heap (`wasm-host-step.ts`).
 */

/** Where the cpu and wasm backends keep a tensor's values (structural: no hard dependency). */
interface HostBackendLike {
  /** tfjs-backend-cpu: values in a JS typed array. */
  readonly data?: { get(dataId: object): { values?: unknown } | undefined; has(dataId: object): boolean };
  /** tfjs-backend-wasm: values on the WASM heap. */
  readonly dataIdMap?: { has(dataId: object): boolean };
  typedArrayFromHeap?(info: tf.TensorInfo): unknown;
  /** tfjs-backend-wasm: a tensor's storage on the heap, allocated and left unwritten. */
  makeOutput?(shape: number[], dtype: 'float32'): tf.TensorInfo;
  refCount(dataId: object): number;
}

/** A float32 tensor to overwrite entirely: the WASM heap's uninitialised storage, else zeros. */
function scratch(backend: HostBackendLike, shape: number[]): tf.Tensor {
  if (backend.typedArrayFromHeap && backend.makeOutput) {
    return tf.engine().makeTensorFromTensorInfo(backend.makeOutput(shape, 'float32'));
  }
  return tf.zeros(shape, 'float32');
}

function hostBackend(): HostBackendLike {
  return tf.backend() as unknown as HostBackendLike;
}

/**
 * A live float32 view of `tensor`'s values in the active backend's memory, or undefined when they
 * are elsewhere (another backend holds them, or not float32). The WASM heap can grow between
 * calls, so a view is taken per phase and never kept.
 */
function view(backend: HostBackendLike, tensor: tf.Tensor): Float32Array | undefined {
  if (tensor.dtype !== 'float32' || tensor.isDisposed) return undefined;
  if (backend.typedArrayFromHeap && backend.dataIdMap?.has(tensor.dataId)) {
    const values = backend.typedArrayFromHeap(tensor);
    return values instanceof Float32Array ? values : undefined;
  }
  if (backend.data?.has(tensor.dataId)) {
    const values = backend.data.get(tensor.dataId)?.values;
    return values instanceof Float32Array && values.length === tensor.size ? values : undefined;
  }
  return undefined;
}

/**
 * Makes a moment variable's values its own before they are written in place: when another tensor
 * shares the data (a state dict's tensor, a user's clone), a private copy is assigned first.
 */
function own(backend: HostBackendLike, variable: tf.Variable): void {
  if (backend.refCount(variable.dataId) <= 1) return;
  const copy = tf.tensor((view(backend, variable) as Float32Array).slice(), variable.shape, 'float32');
  variable.assign(copy);
  copy.dispose();
}

/** Whether every tensor of a step lives in this backend's memory as float32 (else the composed kernel runs it). */
function onHost(param: tf.Variable, grad: tf.Tensor, state: TfjsState): boolean {
  const backend = hostBackend();
  return [param, grad, state.expAvg, state.expAvgSq].every((t) => view(backend, t) !== undefined);
}

/** Phase 1 in one pass; returns Σ g²/max(v′, ε²) in float64 (0 when not reducing). */
function updateMoments(param: tf.Variable, grad: tf.Tensor, state: TfjsState, s: MomentScalars): number {
  const backend = hostBackend();
  own(backend, state.expAvg);
  own(backend, state.expAvgSq);
  // Views after any allocation: growing the WASM heap detaches earlier ones.
  const m = view(backend, state.expAvg) as Float32Array;
  const v = view(backend, state.expAvgSq) as Float32Array;
  const g = view(backend, grad) as Float32Array;
  const n = param.size;
  const w1 = 1 - s.beta1Hat;
  const w2 = 1 - s.beta2Hat;
  const { beta2Hat, epsSq, gradScale } = s;
  const simd = hostStepModule(backend);
  if (simd) return simd.moments(g.byteOffset, m.byteOffset, v.byteOffset, n, w1, beta2Hat, w2, gradScale, epsSq, s.reduce);
  if (!s.reduce) {
    for (let i = 0; i < n; i++) {
      const gi = (g[i] as number) * gradScale;
      const mi = m[i] as number;
      m[i] = mi + w1 * (gi - mi);
      v[i] = beta2Hat * (v[i] as number) + w2 * (gi * gi);
    }
    return 0;
  }
  // A separate loop without the per-element `reduce` test: ~15% faster in V8.
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const gi = (g[i] as number) * gradScale;
    const g2 = gi * gi;
    const mi = m[i] as number;
    const vi = beta2Hat * (v[i] as number) + w2 * g2;
    m[i] = mi + w1 * (gi - mi);
    v[i] = vi;
    // biome-ignore lint/complexity/useMathMinMax: a NaN v must floor to ε² (Math.max would give NaN).
    sum += g2 / (vi > epsSq ? vi : epsSq);
  }
  return sum;
}

/**
 * Phase 2 in one pass: θ ← θ·decay (rounded, as optimi decays in place), then
 * θ ← θ − η·m/(√v + ε), with the scalars rounded to float32 as torch does for a float32 tensor.
 * θ goes to a fresh tensor that is then assigned: tfjs-wasm caches packed weights by tensor
 * (XNNPACK), so a weight changed in place would keep its old values in matMul.
 */
function applyUpdate(param: tf.Variable, state: TfjsState, sumSquares: number, s: UpdateScalars): void {
  const backend = hostBackend();
  const eta = clippedLearningRate(s.lr, rmsFromSum(sumSquares, s.numel));
  const decay = Math.fround(1 - eta * s.weightDecayPerLr);
  const lr = Math.fround(eta);
  const eps = Math.fround(s.eps);
  const updated = scratch(backend, [...param.shape]);
  const out = view(backend, updated) as Float32Array;
  const p = view(backend, param) as Float32Array;
  const m = view(backend, state.expAvg) as Float32Array;
  const v = view(backend, state.expAvgSq) as Float32Array;
  const simd = hostStepModule(backend);
  if (simd) {
    simd.update(p.byteOffset, m.byteOffset, v.byteOffset, out.byteOffset, p.length, decay, lr, eps);
  } else {
    for (let i = 0, n = p.length; i < n; i++) {
      const decayed = Math.fround((p[i] as number) * decay);
      out[i] = decayed - (lr * (m[i] as number)) / (Math.sqrt(v[i] as number) + eps);
    }
  }
  param.assign(updated);
  updated.dispose();
}

type TfjsKernel = StableAdamWKernelV1<tf.Variable, tf.Tensor, TfjsState, tf.Scalar>;

/**
 * Every tensor of a `step()`: phase 1 of all (moments in place), then phase 2 of all, with float64
 * sums; a tensor whose values are not in host memory goes through `fallback` instead.
 * Gradient release (`stepParam`) keeps the composed ops.
 */
export function stepHostTensors(steps: readonly TensorStep<tf.Variable, tf.Tensor, TfjsState>[], fallback: TfjsKernel): void {
  const hosted = steps.map(({ param, grad, state }) => onHost(param, grad, state));
  const sums = steps.map(({ param, grad, state, moments }, i) =>
    hosted[i] ? updateMoments(param, grad, state, moments) : fallback.updateMoments(param, grad, state, moments),
  );
  steps.forEach(({ param, grad, state, update }, i) => {
    const sum = sums[i] as number | tf.Scalar;
    if (typeof sum === 'number') applyUpdate(param, state, sum, update);
    else fallback.applyUpdate(param, grad, state, sum, update);
  });
}
