import type { HalfCodec } from './half-codecs.js';

// The two phases over 16-bit storage held as bit patterns in `Uint16Array`s (bfloat16, or float16
// where the runtime has no Float16Array): decode to float64 (a table load), compute, encode with
// round to nearest even. Same order of operations as the float kernel. Each loop has one job, so
// the JIT sees one array type per access and no per-element branch on the gradient's type.
// For bfloat16 the main loops take two elements per iteration (V8 checks each array once per
// iteration instead of once per element); the odd leading element goes first, so the JIT has seen
// both loops when it optimises. Two, not four: wider bodies exceed Chromium's inlining budget for
// the encoder, whose calls cost more than the checks saved. Float16 (a larger encoder) runs every
// element through the one-element loops (`HalfCodec.pairs`).

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
  const head = codec.pairs ? n % 2 : n;
  let sum = 0;
  if (grad instanceof Uint16Array) {
    let i = 0;
    for (; i < head; i++) {
      const g = (values[grad[i] as number] as number) * gradScale;
      const m = values[expAvg[i] as number] as number;
      const v = beta2Hat * (values[expAvgSq[i] as number] as number) + w2 * g * g;
      expAvg[i] = encode(m + w1 * (g - m));
      expAvgSq[i] = encode(v);
      sum += (g * g) / Math.max(v, epsSq);
    }
    for (; i < n; i += 2) {
      const g0 = (values[grad[i] as number] as number) * gradScale;
      const m0 = values[expAvg[i] as number] as number;
      const v0 = beta2Hat * (values[expAvgSq[i] as number] as number) + w2 * g0 * g0;
      expAvg[i] = encode(m0 + w1 * (g0 - m0));
      expAvgSq[i] = encode(v0);
      sum += (g0 * g0) / Math.max(v0, epsSq);
      const g1 = (values[grad[i + 1] as number] as number) * gradScale;
      const m1 = values[expAvg[i + 1] as number] as number;
      const v1 = beta2Hat * (values[expAvgSq[i + 1] as number] as number) + w2 * g1 * g1;
      expAvg[i + 1] = encode(m1 + w1 * (g1 - m1));
      expAvgSq[i + 1] = encode(v1);
      sum += (g1 * g1) / Math.max(v1, epsSq);
    }
  } else {
    let i = 0;
    for (; i < head; i++) {
      const g = (grad[i] as number) * gradScale;
      const m = values[expAvg[i] as number] as number;
      const v = beta2Hat * (values[expAvgSq[i] as number] as number) + w2 * g * g;
      expAvg[i] = encode(m + w1 * (g - m));
      expAvgSq[i] = encode(v);
      sum += (g * g) / Math.max(v, epsSq);
    }
    for (; i < n; i += 2) {
      const g0 = (grad[i] as number) * gradScale;
      const m0 = values[expAvg[i] as number] as number;
      const v0 = beta2Hat * (values[expAvgSq[i] as number] as number) + w2 * g0 * g0;
      expAvg[i] = encode(m0 + w1 * (g0 - m0));
      expAvgSq[i] = encode(v0);
      sum += (g0 * g0) / Math.max(v0, epsSq);
      const g1 = (grad[i + 1] as number) * gradScale;
      const m1 = values[expAvg[i + 1] as number] as number;
      const v1 = beta2Hat * (values[expAvgSq[i + 1] as number] as number) + w2 * g1 * g1;
      expAvg[i + 1] = encode(m1 + w1 * (g1 - m1));
      expAvgSq[i + 1] = encode(v1);
      sum += (g1 * g1) / Math.max(v1, epsSq);
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
  // With lr·weightDecay below the codec's bound (always, at usual settings) θ·decay rounds to θ and
  // the decay is skipped. Otherwise θ ← round(θ·decay) goes first, in its own pass: the update
  // below then starts from the decayed θ, as one pass would.
  if (Math.abs(1 - decay) >= codec.idleDecay) {
    for (let i = 0; i < n; i++) data[i] = encode((values[data[i] as number] as number) * decay);
  }
  const head = codec.pairs ? n % 2 : n;
  let i = 0;
  if (kahanComp) {
    for (; i < head; i++) {
      const decayed = values[data[i] as number] as number;
      const delta = (-eta * (values[expAvg[i] as number] as number)) / (Math.sqrt(values[expAvgSq[i] as number] as number) + eps);
      const k = (values[kahanComp[i] as number] as number) + delta;
      const updatedBits = encode(decayed + k);
      data[i] = updatedBits;
      kahanComp[i] = encode(k + (decayed - (values[updatedBits] as number)));
    }
    for (; i < n; i += 2) {
      const decayed0 = values[data[i] as number] as number;
      const delta0 =
        (-eta * (values[expAvg[i] as number] as number)) / (Math.sqrt(values[expAvgSq[i] as number] as number) + eps);
      const k0 = (values[kahanComp[i] as number] as number) + delta0;
      const updated0 = encode(decayed0 + k0);
      data[i] = updated0;
      kahanComp[i] = encode(k0 + (decayed0 - (values[updated0] as number)));
      const decayed1 = values[data[i + 1] as number] as number;
      const delta1 =
        (-eta * (values[expAvg[i + 1] as number] as number)) / (Math.sqrt(values[expAvgSq[i + 1] as number] as number) + eps);
      const k1 = (values[kahanComp[i + 1] as number] as number) + delta1;
      const updated1 = encode(decayed1 + k1);
      data[i + 1] = updated1;
      kahanComp[i + 1] = encode(k1 + (decayed1 - (values[updated1] as number)));
    }
  } else {
    for (; i < head; i++) {
      const decayed = values[data[i] as number] as number;
      const delta = (-eta * (values[expAvg[i] as number] as number)) / (Math.sqrt(values[expAvgSq[i] as number] as number) + eps);
      data[i] = encode(decayed + delta);
    }
    for (; i < n; i += 2) {
      const decayed0 = values[data[i] as number] as number;
      const delta0 =
        (-eta * (values[expAvg[i] as number] as number)) / (Math.sqrt(values[expAvgSq[i] as number] as number) + eps);
      data[i] = encode(decayed0 + delta0);
      const decayed1 = values[data[i + 1] as number] as number;
      const delta1 =
        (-eta * (values[expAvg[i + 1] as number] as number)) / (Math.sqrt(values[expAvgSq[i + 1] as number] as number) + eps);
      data[i + 1] = encode(decayed1 + delta1);
    }
  }
}
