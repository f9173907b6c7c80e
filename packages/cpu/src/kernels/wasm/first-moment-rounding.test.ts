import { describe, expect, it } from 'vitest';
import { BLOCK, BLOCK_BYTES, DESC, DESC_BYTES } from './generated/memory-layout.js';
import { instantiateKernel, type KernelExports, kernelModule } from './kernel-module.js';

/**
 * The WebAssembly kernels round the float64 first moment x = m + w1·(g − m) once to 16 bits
 * (bfloat16 mostly through float32, with a check for the one case where that rounds twice). Here
 * the kernel runs on hand-made descriptors, one per w1, over gradients ±2^e for every exponent of
 * the format, so with m = ±0 each lane rounds x = ±w1·2^e (exact in float64): every significand
 * and exponent, each value exactly, its midpoints to the neighbours (ties to even) and values just
 * off them, the subnormals, the overflow threshold, signed zero, ±inf and NaN, on the vector path
 * and the scalar tail. The expected bits come from the reference below, which rounds by scaling
 * to integer steps; nothing is shared with the kernel's own method.
 */
interface Format {
  name: 'bfloat16' | 'float16';
  /** Explicit mantissa bits. */
  mantissa: number;
  /** Exponent bias (the least normal exponent is 1 − bias). */
  bias: number;
  canonicalNaN: number;
  moments: 'momentsBf16' | 'momentsF16';
}

const FORMATS: Format[] = [
  { name: 'bfloat16', mantissa: 7, bias: 127, canonicalNaN: 0x7fc0, moments: 'momentsBf16' },
  { name: 'float16', mantissa: 10, bias: 15, canonicalNaN: 0x7e00, moments: 'momentsF16' },
];

const view = new DataView(new ArrayBuffer(8));

/** The binary exponent of a finite nonzero float64 (subnormals included), from its bits. */
function exponentOf(a: number): number {
  view.setFloat64(0, a);
  const field = (view.getUint32(0) >>> 20) & 0x7ff;
  return field === 0 ? exponentOf(a * 2 ** 64) - 64 : field - 1023;
}

/** The 16-bit pattern of x rounded to nearest, ties to even (reference). */
function roundTo(f: Format, x: number): number {
  if (Number.isNaN(x)) return f.canonicalNaN;
  view.setFloat64(0, x);
  const sign = view.getUint32(0) >>> 31 ? 0x8000 : 0;
  const a = Math.abs(x);
  const infinity = ((1 << (15 - f.mantissa)) - 1) << f.mantissa;
  if (a === 0) return sign;
  if (a === Number.POSITIVE_INFINITY) return sign | infinity;
  const least = 1 - f.bias;
  const e = Math.max(exponentOf(a), least);
  // a in steps of the format's spacing at its binade (powers of two: exact); round the steps.
  const steps = a * 2 ** (f.mantissa - e);
  let n = Math.floor(steps);
  const rest = steps - n;
  if (rest > 0.5 || (rest === 0.5 && n % 2 === 1)) n++;
  // (e − least) binades of 2^mantissa steps below, then n steps (a carry lands in the next binade).
  const bits = (e - least) * 2 ** f.mantissa + n;
  return sign | Math.min(bits, infinity);
}

/** The value of a 16-bit pattern (reference decoding). */
function decoded(f: Format, bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const field = (bits & 0x7fff) >>> f.mantissa;
  const fraction = bits & ((1 << f.mantissa) - 1);
  if (field === (1 << (15 - f.mantissa)) - 1) return fraction ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  const least = 1 - f.bias;
  return field === 0
    ? sign * fraction * 2 ** (least - f.mantissa)
    : sign * (2 ** f.mantissa + fraction) * 2 ** (field - f.bias - f.mantissa);
}

/** ±2^e for every exponent of the format (subnormal powers included), ±0, ±inf and NaNs, last. */
function gradients(f: Format): number[] {
  const out: number[] = [];
  const least = 1 - f.bias;
  for (let e = least - f.mantissa; e <= f.bias; e++) out.push(roundTo(f, 2 ** e), roundTo(f, -(2 ** e)));
  const infinity = ((1 << (15 - f.mantissa)) - 1) << f.mantissa;
  out.push(0, 0x8000, infinity, infinity | 0x8000, f.canonicalNaN, infinity | 1, 0x8000 | f.canonicalNaN | 3);
  return out;
}

/**
 * w1 values: each significand s (mantissa bits after the point) exactly, halfway to the next one,
 * a hair below and above halfway, and a quarter step; (n + ½)·2^-mantissa for the subnormal
 * midpoints (times 2^least they are halfway between subnormals); and a quarter of each, for
 * results below the least subnormal.
 */
function weights(f: Format): number[] {
  const step = 2 ** -f.mantissa;
  const out: number[] = [];
  for (let k = 0; k < 2 ** f.mantissa; k++) {
    const s = 1 + k * step;
    for (const w of [s, s + step / 2, s + step / 2 - 2 ** -40, s + step / 2 + 2 ** -40, s + step / 4]) out.push(w, w / 4);
    const half = (k + 0.5) * step;
    out.push(half, half - 2 ** -40, half + 2 ** -40);
  }
  return out;
}

let kernel: Promise<{ exports: KernelExports; memory: WebAssembly.Memory }> | undefined;

async function instance() {
  kernel ??= (async () => {
    const module = await kernelModule(false);
    if (!module) throw new Error('WebAssembly SIMD is required for this test');
    const memory = new WebAssembly.Memory({ initial: 512 });
    return { exports: await instantiateKernel(module, memory), memory };
  })();
  return kernel;
}

/** Runs the format's phase-1 kernel once per w1 over `grads` with m = m0; returns each tensor's m. */
async function firstMoments(f: Format, grads: number[], w1s: number[], m0: number): Promise<Uint16Array[]> {
  const { exports, memory } = await instance();
  const n = grads.length;
  const base = (exports.heapBase() + 15) & ~15;
  const blocks = base + w1s.length * DESC_BYTES;
  const partials = blocks + w1s.length * BLOCK_BYTES;
  const gradAt = partials + w1s.length * 8;
  const stride = (n * 2 + 15) & ~15;
  const vAt = gradAt + stride;
  const mAt = vAt + stride;
  const end = mAt + w1s.length * stride;
  if (end > memory.buffer.byteLength) memory.grow(Math.ceil((end - memory.buffer.byteLength) / 65536));
  const u32 = new Uint32Array(memory.buffer);
  const f32 = new Float32Array(memory.buffer);
  const f64 = new Float64Array(memory.buffer);
  const u16 = new Uint16Array(memory.buffer);
  u16.set(grads, gradAt / 2);
  w1s.forEach((w1, t) => {
    const d = base + t * DESC_BYTES;
    u32.fill(0, d / 4, (d + DESC_BYTES) / 4);
    u32[(d + DESC.grad) / 4] = gradAt;
    u32[(d + DESC.expAvg) / 4] = mAt + t * stride;
    u32[(d + DESC.expAvgSq) / 4] = vAt;
    u32[(d + DESC.numel) / 4] = n;
    f32[(d + DESC.w1) / 4] = w1;
    f64[(d + DESC.w1F64) / 8] = w1;
    f32[(d + DESC.w2) / 4] = 1;
    f32[(d + DESC.epsSq) / 4] = 1;
    f32[(d + DESC.gradScale) / 4] = 1;
    const b = blocks + t * BLOCK_BYTES;
    u32[(b + BLOCK.tensor) / 4] = t;
    u32[(b + BLOCK.start) / 4] = 0;
    u32[(b + BLOCK.count) / 4] = n;
    u16.fill(m0, (mAt + t * stride) / 2, (mAt + t * stride) / 2 + n);
  });
  exports[f.moments](base, blocks, partials, 0, w1s.length);
  return w1s.map((_, t) => new Uint16Array(memory.buffer, mAt + t * stride, n).slice());
}

describe.each(FORMATS)('$name first moment: one rounding of the float64 lerp', (f) => {
  it('reference rounding: exact values stay, midpoints go to the even neighbour, overflow gives inf', () => {
    const top = (1 << (15 - f.mantissa)) - 1;
    // Largest finite value and the threshold halfway to the next binade, which rounds to inf.
    const max = decoded(f, (top << f.mantissa) - 1);
    expect(roundTo(f, max)).toBe((top << f.mantissa) - 1);
    expect(roundTo(f, max + 2 ** (f.bias - f.mantissa - 1))).toBe(top << f.mantissa);
    expect(roundTo(f, -(max + 2 ** (f.bias - f.mantissa - 1) * (1 - 2 ** -20)))).toBe(0x8000 | ((top << f.mantissa) - 1));
    // 1 + ½ step is a tie: to 1 (even); 1 + 3/2 steps: to 1 + 2 steps.
    expect(roundTo(f, 1 + 2 ** (-f.mantissa - 1))).toBe(f.bias << f.mantissa);
    expect(roundTo(f, 1 + 3 * 2 ** (-f.mantissa - 1))).toBe((f.bias << f.mantissa) + 2);
    // Half the least subnormal rounds to zero (even), a hair more to the least subnormal.
    const least = 2 ** (1 - f.bias - f.mantissa);
    expect(roundTo(f, least / 2)).toBe(0);
    expect(roundTo(f, -least / 2)).toBe(0x8000);
    expect(roundTo(f, (least / 2) * (1 + 2 ** -30))).toBe(1);
    const moved = [];
    for (let bits = 0; bits < 0x10000; bits++) {
      const x = decoded(f, bits);
      if (!Number.isNaN(x) && roundTo(f, x) !== bits) moved.push(bits);
    }
    expect(moved).toEqual([]);
  });

  it.each([
    ['+0', 0],
    ['−0', 0x8000],
  ])('matches the reference for every significand × exponent, at and around each midpoint (m = %s)', async (_, m0) => {
    const grads = gradients(f);
    // An element count that is not a multiple of eight also runs the scalar tail.
    expect(grads.length % 8).not.toBe(0);
    const w1s = weights(f);
    const results = await firstMoments(f, grads, w1s, m0);
    const mValue = decoded(f, m0);
    let checked = 0;
    let ties = 0;
    w1s.forEach((w1, t) => {
      const got = results[t] as Uint16Array;
      grads.forEach((g, i) => {
        const gValue = decoded(f, g);
        const x = mValue + w1 * (gValue - mValue);
        const expected = roundTo(f, x);
        if (got[i] !== expected) expect({ w1, g: gValue, x, bits: got[i] }).toEqual({ w1, g: gValue, x, bits: expected });
        const steps = Math.abs(x) * 2 ** (f.mantissa - Math.max(exponentOf(Math.abs(x) || 1), 1 - f.bias));
        if (steps % 1 === 0.5) ties++;
        checked++;
      });
    });
    expect(checked).toBe(w1s.length * grads.length);
    // Exact ties occur for every significand (and in the subnormal range), both signs.
    expect(ties).toBeGreaterThan(2 ** f.mantissa * 2 * (f.bias + 1));
  });
});
