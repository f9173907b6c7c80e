import { bfloat16ToNumber, float16ToNumber, numberToBfloat16, numberToFloat16 } from '@stable-adamw/core';
import { describe, expect, it } from 'vitest';
import { applyUpdateHalf, updateMomentsHalf } from './half-bits-kernel.js';
import { codecOf } from './half-codecs.js';

/**
 * core's numberToBfloat16 sends values from 3.3961775292304023e38 up to the overflow midpoint to
 * inf; round to nearest gives the largest finite value (see half-codecs.test.ts).
 */
function bfloat16Reference(x: number): number {
  const a = Math.abs(x);
  if (a >= 3.3961775292304023e38 && a < 2 ** 128 * (1 - 2 ** -9)) return x < 0 ? 0xff7f : 0x7f7f;
  return numberToBfloat16(x);
}

/** Codecs of the reference, and the fraction bits of each format (8 and 11 significant bits). */
const formats = {
  bfloat16: { decode: bfloat16ToNumber, encode: bfloat16Reference, fractionBits: 7 },
  float16: { decode: float16ToNumber, encode: numberToFloat16, fractionBits: 10 },
} as const;
type Format = (typeof formats)[keyof typeof formats];

function seeded(seed: number) {
  let s = seed;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** Patterns where rounding and arithmetic have edge cases: ±0, subnormals, ±max, ±inf, NaN. */
const SPECIAL = {
  bfloat16: [0x0000, 0x8000, 0x0001, 0x8001, 0x007f, 0x0080, 0x7f7f, 0xff7f, 0x7f80, 0xff80, 0x7fc0, 0xffc1],
  float16: [0x0000, 0x8000, 0x0001, 0x8001, 0x03ff, 0x0400, 0x7bff, 0xfbff, 0x7c00, 0xfc00, 0x7e00, 0xfe01],
};

/** Mostly values of `scale` (uniform, both signs), some special patterns and arbitrary bit patterns. */
function patterns(n: number, format: Format, specials: number[], scale: number, next: () => number): Uint16Array {
  return Uint16Array.from({ length: n }, () => {
    const r = next();
    if (r < 0.04) return specials[Math.floor(next() * specials.length)] as number;
    if (r < 0.08) return Math.floor(next() * 65536);
    return format.encode((next() * 2 - 1) * scale);
  });
}

/**
 * Float32 gradients lying on 16-bit rounding midpoints (and near them), where one rounding from
 * float64 and two roundings through float32 differ.
 */
function midpointGrads(n: number, format: Format, next: () => number): Float32Array {
  return Float32Array.from({ length: n }, () => {
    const lo = format.decode(format.encode((next() * 2 - 1) * 1e-2));
    const ulp = 2 ** (Math.floor(Math.log2(Math.abs(lo))) - format.fractionBits);
    return next() < 0.75 ? lo + ulp / 2 : lo;
  });
}

interface Case {
  gradScale: number;
  beta1Hat: number;
  beta2Hat: number;
  eta: number;
  decay: number;
}

/** The kernels' arithmetic one element at a time: decode, float64, one rounding per stored value. */
function reference(
  format: Format,
  grad: Uint16Array | Float32Array,
  state: { data: Uint16Array; m: Uint16Array; v: Uint16Array; k: Uint16Array | null },
  c: Case,
) {
  const { decode, encode } = format;
  const [eps, epsSq] = [1e-6, 1e-12];
  const data = state.data.slice();
  const m = state.m.slice();
  const v = state.v.slice();
  const k = state.k?.slice() ?? null;
  let sum = 0;
  for (let i = 0; i < data.length; i++) {
    const gi = grad instanceof Uint16Array ? decode(grad[i] as number) : (grad[i] as number);
    const g = gi * c.gradScale;
    const mi = decode(m[i] as number);
    const vi = c.beta2Hat * decode(v[i] as number) + (1 - c.beta2Hat) * g * g;
    m[i] = encode(mi + (1 - c.beta1Hat) * (g - mi));
    v[i] = encode(vi);
    sum += (g * g) / Math.max(vi, epsSq);
  }
  for (let i = 0; i < data.length; i++) {
    const decayed = decode(encode(decode(data[i] as number) * c.decay));
    const delta = (-c.eta * decode(m[i] as number)) / (Math.sqrt(decode(v[i] as number)) + eps);
    if (k) {
      const ki = decode(k[i] as number) + delta;
      data[i] = encode(decayed + ki);
      k[i] = encode(ki + (decayed - decode(data[i] as number)));
    } else {
      data[i] = encode(decayed + delta);
    }
  }
  return { sum, data, m, v, k };
}

const CASES: Case[] = [
  // Step 1 (β̂1 = 0: m takes g's value, midpoints included), decay idle.
  { gradScale: 1, beta1Hat: 0, beta2Hat: 0, eta: 1e-3, decay: 1 - 1e-5 },
  // A loss scaler's unscale nudging midpoints off by a float64 ulp; decay applied (not idle).
  { gradScale: 1 + 2 ** -40, beta1Hat: 0, beta2Hat: 0.5, eta: 1e-2, decay: 1 - 0.05 },
  { gradScale: 0.25, beta1Hat: 0.9, beta2Hat: 0.99, eta: 3e-4, decay: 1 + 2 ** -6 },
];

// Lengths around the two-element loop (empty, odd lead-in only, even, odd) and a long one.
const LENGTHS = [0, 1, 2, 3, 4, 5, 511, 512, 513, 4097];

describe.each(['bfloat16', 'float16'] as const)('%s kernels against one element at a time', (dtype) => {
  const format = formats[dtype];
  const codec = codecOf(new Uint16Array(0), dtype);
  if (!codec) throw new Error('no codec');

  it.each([
    ['bit-pattern gradients', 'bits'],
    ['float32 gradients on midpoints', 'float32'],
  ] as const)('stores the same bits and sum, %s, with and without Kahan', (_, gradKind) => {
    const next = seeded(dtype === 'bfloat16' ? 17 : 29);
    let checked = 0;
    for (const n of LENGTHS) {
      for (const c of CASES) {
        for (const kahan of [true, false]) {
          const grad = gradKind === 'bits' ? patterns(n, format, SPECIAL[dtype], 1e-2, next) : midpointGrads(n, format, next);
          const state = {
            data: patterns(n, format, SPECIAL[dtype], 1, next),
            m: patterns(n, format, SPECIAL[dtype], 1e-2, next),
            v: patterns(n, format, SPECIAL[dtype], 1e-4, next),
            k: kahan ? patterns(n, format, SPECIAL[dtype], 1e-4, next) : null,
          };
          const want = reference(format, grad, state, c);
          const sum = updateMomentsHalf(codec, grad, state.m, state.v, c.beta1Hat, c.beta2Hat, 1e-12, true, c.gradScale);
          applyUpdateHalf(codec, state.data, state.m, state.v, state.k, c.eta, c.decay, 1e-6);
          expect(sum).toBe(want.sum);
          expect([...state.m]).toEqual([...want.m]);
          expect([...state.v]).toEqual([...want.v]);
          expect([...state.data]).toEqual([...want.data]);
          expect(state.k && [...state.k]).toEqual(want.k && [...want.k]);
          checked += n;
        }
      }
    }
    expect(checked).toBe(LENGTHS.reduce((a, b) => a + b, 0) * CASES.length * 2);
  });

  it('returns 0 without reducing, and the moments are still updated', () => {
    const next = seeded(5);
    const grad = patterns(7, format, [], 1e-2, next);
    const m = new Uint16Array(7);
    const v = new Uint16Array(7);
    expect(updateMomentsHalf(codec, grad, m, v, 0.5, 0.5, 1e-12, false, 1)).toBe(0);
    expect([...m].filter((bits, i) => bits !== format.encode(0.5 * format.decode(grad[i] as number)))).toEqual([]);
  });
});

describe('test data', () => {
  it.each([
    ['bfloat16', 0xffff, 0x8000],
    ['float16', 0x1fff, 0x1000],
  ] as const)('puts float32 gradients exactly on %s midpoints', (dtype, dropped, half) => {
    const bits = new Uint32Array(midpointGrads(1000, formats[dtype], seeded(3)).buffer);
    expect(bits.filter((b) => (b & dropped) === half).length).toBeGreaterThan(600);
  });
});
