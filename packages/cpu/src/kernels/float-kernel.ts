import type { Float16ArrayLike } from '../param.js';

/** Arrays whose element reads and writes are plain numbers (writes round to the storage type). */
export type FloatArray = Float32Array | Float64Array | Float16ArrayLike;

/**
 * Phase 1 over float storage, one pass: g ← g·gradScale (float64; a loss scaler's unscale);
 * m ← m + (1−β̂1)(g − m); v ← β̂2·v + (1−β̂2)·g²; and the sum of g²/max(v, ε²) with the unrounded v
 * (float64 accumulation). Grads are only read.
 */
export function updateMomentsFloat(
  grad: FloatArray,
  expAvg: FloatArray,
  expAvgSq: FloatArray,
  beta1Hat: number,
  beta2Hat: number,
  epsSq: number,
  reduce: boolean,
  gradScale: number,
): number {
  if (grad instanceof Float32Array && expAvg instanceof Float32Array && expAvgSq instanceof Float32Array) {
    const sum = updateMomentsFloat32(grad, expAvg, expAvgSq, beta1Hat, beta2Hat, epsSq, gradScale);
    return reduce ? sum : 0;
  }
  const n = grad.length;
  const w1 = 1 - beta1Hat;
  const w2 = 1 - beta2Hat;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const g = (grad[i] as number) * gradScale;
    const m = expAvg[i] as number;
    // Storing m before v is read is a few percent faster in V8 (fewer live values across the loads).
    expAvg[i] = m + w1 * (g - m);
    const v = beta2Hat * (expAvgSq[i] as number) + w2 * g * g;
    expAvgSq[i] = v;
    sum += (g * g) / Math.max(v, epsSq);
  }
  // The sum is computed either way (cheaper than a branch per element); only used when reducing.
  return reduce ? sum : 0;
}

/**
 * Phase 1 over float32 arrays: the loop above, four elements per iteration (V8 checks each array
 * once per iteration instead of once per element). Each element still stores m before v is read
 * (grouping the stores was slower: the arrays often lie a multiple of 4 KiB apart, so the loads
 * of v wait on the stores to m). Same arithmetic per element, the sum added in element order: the
 * same results.
 */
function updateMomentsFloat32(
  grad: Float32Array,
  expAvg: Float32Array,
  expAvgSq: Float32Array,
  beta1Hat: number,
  beta2Hat: number,
  epsSq: number,
  gradScale: number,
): number {
  const n = grad.length;
  const w1 = 1 - beta1Hat;
  const w2 = 1 - beta2Hat;
  let sum = 0;
  // The n mod 4 leading elements first: this loop's test runs on every call, so V8 has type
  // feedback for it when it optimizes (a tail loop it never saw would deoptimize the kernel).
  const head = n % 4;
  let i = 0;
  for (; i < head; i++) {
    const g = (grad[i] as number) * gradScale;
    const m = expAvg[i] as number;
    expAvg[i] = m + w1 * (g - m);
    const v = beta2Hat * (expAvgSq[i] as number) + w2 * g * g;
    expAvgSq[i] = v;
    sum += (g * g) / Math.max(v, epsSq);
  }
  for (; i < n; i += 4) {
    const g0 = (grad[i] as number) * gradScale;
    const m0 = expAvg[i] as number;
    expAvg[i] = m0 + w1 * (g0 - m0);
    const v0 = beta2Hat * (expAvgSq[i] as number) + w2 * g0 * g0;
    expAvgSq[i] = v0;
    const g1 = (grad[i + 1] as number) * gradScale;
    const m1 = expAvg[i + 1] as number;
    expAvg[i + 1] = m1 + w1 * (g1 - m1);
    const v1 = beta2Hat * (expAvgSq[i + 1] as number) + w2 * g1 * g1;
    expAvgSq[i + 1] = v1;
    const g2 = (grad[i + 2] as number) * gradScale;
    const m2 = expAvg[i + 2] as number;
    expAvg[i + 2] = m2 + w1 * (g2 - m2);
    const v2 = beta2Hat * (expAvgSq[i + 2] as number) + w2 * g2 * g2;
    expAvgSq[i + 2] = v2;
    const g3 = (grad[i + 3] as number) * gradScale;
    const m3 = expAvg[i + 3] as number;
    expAvg[i + 3] = m3 + w1 * (g3 - m3);
    const v3 = beta2Hat * (expAvgSq[i + 3] as number) + w2 * g3 * g3;
    expAvgSq[i + 3] = v3;
    sum += (g0 * g0) / Math.max(v0, epsSq);
    sum += (g1 * g1) / Math.max(v1, epsSq);
    sum += (g2 * g2) / Math.max(v2, epsSq);
    sum += (g3 * g3) / Math.max(v3, epsSq);
  }
  return sum;
}

/**
 * Phase 2 over float storage, one pass: θ ← θ·decay (rounded to storage, as optimi applies decay
 * in place), then θ ← θ − η·m/(√v + ε), through the Kahan buffer when one is given:
 * k ← k + Δ; θ_new = θ + k (rounded); k ← k + (θ − θ_new).
 */
export function applyUpdateFloat(
  data: FloatArray,
  expAvg: FloatArray,
  expAvgSq: FloatArray,
  kahanComp: FloatArray | null,
  eta: number,
  decay: number,
  eps: number,
): void {
  const n = data.length;
  if (kahanComp) {
    for (let i = 0; i < n; i++) {
      data[i] = (data[i] as number) * decay;
      const decayed = data[i] as number;
      const k = (kahanComp[i] as number) + (-eta * (expAvg[i] as number)) / (Math.sqrt(expAvgSq[i] as number) + eps);
      data[i] = decayed + k;
      kahanComp[i] = k + (decayed - (data[i] as number));
    }
  } else if (data instanceof Float32Array) {
    applyUpdateFloat32(data, expAvg, expAvgSq, eta, decay, eps);
  } else {
    for (let i = 0; i < n; i++) {
      data[i] = (data[i] as number) * decay;
      data[i] = (data[i] as number) + (-eta * (expAvg[i] as number)) / (Math.sqrt(expAvgSq[i] as number) + eps);
    }
  }
}

/**
 * Below this, a product of two denominators √v + ε could lose bits to underflow: the pairing in
 * `applyUpdateFloat32` is used only above it.
 */
const MIN_PAIRED_DENOMINATOR = 1e-300;

/**
 * Phase 2 over float32 params without Kahan. The decayed θ is rounded to float32 in a register
 * (Math.fround), one store instead of two. Two elements share one division, the divider being what
 * bounds this loop: −η/(d0·d1) times m0·d1 and m1·d0, with d = √v + ε. Against one division per
 * element that is a few float64 ulps, far below the float32 rounding of θ that follows. Pairs whose
 * product is not a normal finite number (v = ∞ or NaN, ε = 0 with v = 0, underflow) take the
 * per-element form, so such a lane cannot change its neighbour. Two pairs per iteration: V8 checks
 * each array once per iteration, not once per element.
 */
function applyUpdateFloat32(
  data: Float32Array,
  expAvg: FloatArray,
  expAvgSq: FloatArray,
  eta: number,
  decay: number,
  eps: number,
): void {
  const n = data.length;
  const negEta = -eta;
  // Pairs are (0, 1), (2, 3), …, and with n odd the last element is alone. It and, when the pair
  // count is odd, the first pair run before the loop: tests that run on every call, so V8 has type
  // feedback for them when it optimizes (code after the loop that it never saw would deoptimize).
  const paired = n - (n % 2);
  if (paired < n) {
    const decayed = Math.fround((data[paired] as number) * decay);
    data[paired] = decayed + (negEta * (expAvg[paired] as number)) / (Math.sqrt(expAvgSq[paired] as number) + eps);
  }
  let i = 0;
  if (paired % 4 !== 0) {
    updatePairFloat32(data, expAvg, expAvgSq, 0, negEta, decay, eps);
    i = 2;
  }
  for (; i < paired; i += 4) {
    const d0 = Math.sqrt(expAvgSq[i] as number) + eps;
    const d1 = Math.sqrt(expAvgSq[i + 1] as number) + eps;
    const d2 = Math.sqrt(expAvgSq[i + 2] as number) + eps;
    const d3 = Math.sqrt(expAvgSq[i + 3] as number) + eps;
    const product01 = d0 * d1;
    const product23 = d2 * d3;
    const decayed0 = Math.fround((data[i] as number) * decay);
    const decayed1 = Math.fround((data[i + 1] as number) * decay);
    const decayed2 = Math.fround((data[i + 2] as number) * decay);
    const decayed3 = Math.fround((data[i + 3] as number) * decay);
    if (product01 > MIN_PAIRED_DENOMINATOR && product01 < Number.POSITIVE_INFINITY) {
      const scale = negEta / product01;
      data[i] = decayed0 + (expAvg[i] as number) * d1 * scale;
      data[i + 1] = decayed1 + (expAvg[i + 1] as number) * d0 * scale;
    } else {
      data[i] = decayed0 + (negEta * (expAvg[i] as number)) / d0;
      data[i + 1] = decayed1 + (negEta * (expAvg[i + 1] as number)) / d1;
    }
    if (product23 > MIN_PAIRED_DENOMINATOR && product23 < Number.POSITIVE_INFINITY) {
      const scale = negEta / product23;
      data[i + 2] = decayed2 + (expAvg[i + 2] as number) * d3 * scale;
      data[i + 3] = decayed3 + (expAvg[i + 3] as number) * d2 * scale;
    } else {
      data[i + 2] = decayed2 + (negEta * (expAvg[i + 2] as number)) / d2;
      data[i + 3] = decayed3 + (negEta * (expAvg[i + 3] as number)) / d3;
    }
  }
}

/** Elements i and i + 1 of `applyUpdateFloat32`'s loop (the first pair when the pair count is odd). */
function updatePairFloat32(
  data: Float32Array,
  expAvg: FloatArray,
  expAvgSq: FloatArray,
  i: number,
  negEta: number,
  decay: number,
  eps: number,
): void {
  const d0 = Math.sqrt(expAvgSq[i] as number) + eps;
  const d1 = Math.sqrt(expAvgSq[i + 1] as number) + eps;
  const product = d0 * d1;
  const decayed0 = Math.fround((data[i] as number) * decay);
  const decayed1 = Math.fround((data[i + 1] as number) * decay);
  if (product > MIN_PAIRED_DENOMINATOR && product < Number.POSITIVE_INFINITY) {
    const scale = negEta / product;
    data[i] = decayed0 + (expAvg[i] as number) * d1 * scale;
    data[i + 1] = decayed1 + (expAvg[i + 1] as number) * d0 * scale;
  } else {
    data[i] = decayed0 + (negEta * (expAvg[i] as number)) / d0;
    data[i + 1] = decayed1 + (negEta * (expAvg[i + 1] as number)) / d1;
  }
}
