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
    const v = beta2Hat * (expAvgSq[i] as number) + w2 * g * g;
    expAvg[i] = m + w1 * (g - m);
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
    // The decayed θ rounded to float32 in a register (Math.fround), one store instead of two.
    for (let i = 0; i < n; i++) {
      const decayed = Math.fround((data[i] as number) * decay);
      data[i] = decayed + (-eta * (expAvg[i] as number)) / (Math.sqrt(expAvgSq[i] as number) + eps);
    }
  } else {
    for (let i = 0; i < n; i++) {
      data[i] = (data[i] as number) * decay;
      data[i] = (data[i] as number) + (-eta * (expAvg[i] as number)) / (Math.sqrt(expAvgSq[i] as number) + eps);
    }
  }
}
