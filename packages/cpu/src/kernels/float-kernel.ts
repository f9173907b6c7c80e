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
 * per-element form, so such a lane cannot change its neighbour.
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
  let i = 0;
  for (; i + 1 < n; i += 2) {
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
  if (i < n) {
    const decayed = Math.fround((data[i] as number) * decay);
    data[i] = decayed + (negEta * (expAvg[i] as number)) / (Math.sqrt(expAvgSq[i] as number) + eps);
  }
}
