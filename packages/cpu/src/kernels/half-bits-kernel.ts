import type { HalfCodec } from './half-codecs.js';

// The two phases over 16-bit storage held as bit patterns in `Uint16Array`s (bfloat16, or float16
// where the runtime has no Float16Array): decode to float64 (a table load), compute, encode with
// round to nearest even. Same order of operations as the float kernel. Each loop has one job, so
// the JIT sees one array type per access and no per-element branch on the gradient's type.

/** Phase 1 (see `updateMomentsFloat`); `grad` is either bits of the param's dtype or a Float32Array, × gradScale. */
export function updateMomentsHalf(
  codec: HalfCodec,
  grad: Uint16Array | Float32Array,
  expAvg: Uint16Array,
  expAvgSq: Uint16Array,
  beta1Hat: number,
  beta2Hat: number,
  epsSq: number,
  reduce: boolean,
  gradScale: number,
): number {
  const w1 = 1 - beta1Hat;
  const w2 = 1 - beta2Hat;
  const { values, encode } = codec;
  const n = grad.length;
  let sum = 0;
  if (grad instanceof Uint16Array) {
    for (let i = 0; i < n; i++) {
      const g = (values[grad[i] as number] as number) * gradScale;
      const m = values[expAvg[i] as number] as number;
      const v = beta2Hat * (values[expAvgSq[i] as number] as number) + w2 * g * g;
      expAvg[i] = encode(m + w1 * (g - m));
      expAvgSq[i] = encode(v);
      sum += (g * g) / Math.max(v, epsSq);
    }
  } else {
    for (let i = 0; i < n; i++) {
      const g = (grad[i] as number) * gradScale;
      const m = values[expAvg[i] as number] as number;
      const v = beta2Hat * (values[expAvgSq[i] as number] as number) + w2 * g * g;
      expAvg[i] = encode(m + w1 * (g - m));
      expAvgSq[i] = encode(v);
      sum += (g * g) / Math.max(v, epsSq);
    }
  }
  // The sum is computed either way (cheaper than a branch per element); only used when reducing.
  return reduce ? sum : 0;
}

/** Phase 2 (see `applyUpdateFloat`). */
export function applyUpdateHalf(
  codec: HalfCodec,
  data: Uint16Array,
  expAvg: Uint16Array,
  expAvgSq: Uint16Array,
  kahanComp: Uint16Array | null,
  eta: number,
  decay: number,
  eps: number,
): void {
  const { values, encode } = codec;
  const n = data.length;
  // With lr·weightDecay below the codec's bound (always, at usual settings) θ·decay rounds to θ.
  const idle = Math.abs(1 - decay) < codec.idleDecay;
  if (kahanComp) {
    for (let i = 0; i < n; i++) {
      const theta = values[data[i] as number] as number;
      const decayed = idle ? theta : (values[encode(theta * decay)] as number);
      const delta = (-eta * (values[expAvg[i] as number] as number)) / (Math.sqrt(values[expAvgSq[i] as number] as number) + eps);
      const k = (values[kahanComp[i] as number] as number) + delta;
      const updatedBits = encode(decayed + k);
      data[i] = updatedBits;
      kahanComp[i] = encode(k + (decayed - (values[updatedBits] as number)));
    }
  } else {
    for (let i = 0; i < n; i++) {
      const theta = values[data[i] as number] as number;
      const decayed = idle ? theta : (values[encode(theta * decay)] as number);
      const delta = (-eta * (values[expAvg[i] as number] as number)) / (Math.sqrt(values[expAvgSq[i] as number] as number) + eps);
      data[i] = encode(decayed + delta);
    }
  }
}
