import type { HalfCodec } from './half-codecs.js';

// The two phases over 16-bit storage held as bit patterns in `Uint16Array`s (bfloat16, or float16
// where the runtime has no Float16Array): decode to float64, compute, encode with round to
// nearest even. Same order of operations as the float kernel.

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
  const { decode, encode } = codec;
  const gradBits = grad instanceof Uint16Array;
  const n = grad.length;
  const w1 = 1 - beta1Hat;
  const w2 = 1 - beta2Hat;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const g = (gradBits ? decode(grad[i] as number) : (grad[i] as number)) * gradScale;
    const m = decode(expAvg[i] as number);
    const v = beta2Hat * decode(expAvgSq[i] as number) + w2 * g * g;
    expAvg[i] = encode(m + w1 * (g - m));
    expAvgSq[i] = encode(v);
    if (reduce) sum += (g * g) / Math.max(v, epsSq);
  }
  return sum;
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
  const { decode, encode } = codec;
  const n = data.length;
  for (let i = 0; i < n; i++) {
    const decayedBits = encode(decode(data[i] as number) * decay);
    const decayed = decode(decayedBits);
    const delta = (-eta * decode(expAvg[i] as number)) / (Math.sqrt(decode(expAvgSq[i] as number)) + eps);
    if (kahanComp) {
      const k = decode(kahanComp[i] as number) + delta;
      const updatedBits = encode(decayed + k);
      data[i] = updatedBits;
      kahanComp[i] = encode(k + (decayed - decode(updatedBits)));
    } else {
      data[i] = encode(decayed + delta);
    }
  }
}
