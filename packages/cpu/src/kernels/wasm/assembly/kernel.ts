// StableAdamW's two phases as WebAssembly SIMD kernels (AssemblyScript), built by
// scripts/build-wasm.mjs. Every call runs a range of blocks from a block table; a block is a slice
// of one tensor, described by a tensor descriptor. Phase 1 writes one float64 partial sum per
// block, so the total of a tensor (the blocks' partials added in order by the host) does not
// depend on which thread ran which block; a one-block tensor marked fused gets its phase 2 right
// there. The descriptor and block entry offsets are generated from ../memory-layout.json, as are
// the host's; they are exported too, so a test can check the compiled module against the host.
import {
  B_COUNT,
  B_START,
  B_TENSOR,
  BLOCK_BYTES,
  D_BETA2,
  D_DECAY,
  D_DECAY_PER_LR,
  D_EPS,
  D_EPS_SQ,
  D_EXP_AVG,
  D_EXP_AVG_SQ,
  D_FUSED,
  D_GRAD,
  D_GRAD_SCALE,
  D_KAHAN,
  D_LR,
  D_NEG_ETA,
  D_NUMEL,
  D_PARAM,
  D_W1,
  D_W1_F64,
  D_W2,
  DESC_BYTES,
} from './generated/memory-layout';

export * from './generated/memory-layout';

/** Where the host may start laying out its own data. */
export function heapBase(): usize {
  return (__heap_base + 15) & ~15;
}

function highHalf(x: v128): v128 {
  return v128.shuffle<f32>(x, x, 2, 3, 0, 1);
}

/**
 * For a one-block tensor, phase 1 has its whole sum: compute η and the decay factor here exactly as
 * the host does between the phases (float64, NaN RMS → no clip, then rounded to float32), so phase
 * 2 can follow while the moments are still in cache. Returns whether the block is fused.
 */
function fuse(d: usize, sum: f64): bool {
  if (!load<u32>(d + D_FUSED)) return false;
  const rms = Math.sqrt(sum / <f64>load<u32>(d + D_NUMEL));
  // biome-ignore lint/complexity/useMathMinMax: a NaN RMS must select 1 (no clip), which max would not do.
  const eta = load<f64>(d + D_LR) / (rms > 1 ? rms : 1);
  store<f32>(d + D_NEG_ETA, <f32>-eta);
  store<f32>(d + D_DECAY, <f32>(1 - eta * load<f64>(d + D_DECAY_PER_LR)));
  return true;
}

function descriptorOf(table: usize, blocks: usize, b: i32): usize {
  return table + <usize>load<u32>(blocks + <usize>b * BLOCK_BYTES + B_TENSOR) * DESC_BYTES;
}

// ---------------------------------------------------------------- float32

// Marker types: whether a kernel multiplies gradients by gradScale (resolved at compile time, so
// the common unscaled step has no multiply in its loop).
type Scaled = f32;
type Unscaled = u32;

function isScaled<S>(): bool {
  return isFloat<S>();
}

/**
 * Phase 1 over float32 blocks [from, to): g ← g·gradScale (a loss scaler's unscale, exact for a
 * power of two); m ← m + w1(g − m); v ← β̂2·v + w2·g²; Σ g²/max(v, ε²).
 */
export function momentsF32(table: usize, blocks: usize, partials: usize, from: i32, to: i32): void {
  for (let b = from; b < to; b++) {
    const entry = blocks + <usize>b * BLOCK_BYTES;
    const d = descriptorOf(table, blocks, b);
    const start = load<u32>(entry + B_START);
    const n = <i32>load<u32>(entry + B_COUNT);
    // Multiplying by 1 changes nothing: unscaled steps (no loss scaler) skip it.
    const sum = load<f32>(d + D_GRAD_SCALE) === 1 ? momentsRangeF32<Unscaled>(d, start, n) : momentsRangeF32<Scaled>(d, start, n);
    store<f64>(partials + ((<usize>b) << 3), sum);
    if (fuse(d, sum)) updateRangeF32(d, start, n);
  }
}

/** v ← β̂2·v + w2·g² for four lanes (one fused multiply-add in the relaxed-SIMD module). */
function secondMoment(v: v128, gg: v128, beta2v: v128, w2v: v128): v128 {
  return madd(beta2v, v, f32x4.mul(w2v, gg));
}

/** a·b + c: fused (one rounding) in the relaxed-SIMD module, multiply then add in the plain one. */
function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

/**
 * g²/max(v, ε²) for four lanes. pmax (a < b ? b : a) is one x86 instruction where max is eight;
 * with v first, a NaN v still gives NaN, and v ≥ 0 has no −0 to order.
 */
function ratio(gg: v128, v: v128, epsSqv: v128): v128 {
  return f32x4.div(gg, f32x4.pmax(v, epsSqv));
}

/**
 * Phase 1 of one float32 block, returning its Σ g²/max(v, ε²) (float64). Eight lanes per
 * iteration into four float64 accumulators (two per vector: the low and high lane pairs), so no
 * addition waits on the one before.
 */
function momentsRangeF32<S>(d: usize, start: u32, n: i32): f64 {
  const scaled = isScaled<S>();
  const offset = (<usize>start) << 2;
  const gp = <usize>load<u32>(d + D_GRAD) + offset;
  const mp = <usize>load<u32>(d + D_EXP_AVG) + offset;
  const vp = <usize>load<u32>(d + D_EXP_AVG_SQ) + offset;
  const w1 = load<f32>(d + D_W1);
  const beta2 = load<f32>(d + D_BETA2);
  const w2 = load<f32>(d + D_W2);
  const epsSq = load<f32>(d + D_EPS_SQ);
  const gradScale = load<f32>(d + D_GRAD_SCALE);
  const scalev = f32x4.splat(gradScale);
  const w1v = f32x4.splat(w1);
  const beta2v = f32x4.splat(beta2);
  const w2v = f32x4.splat(w2);
  const epsSqv = f32x4.splat(epsSq);
  let acc0 = f64x2.splat(0);
  let acc1 = f64x2.splat(0);
  let acc2 = f64x2.splat(0);
  let acc3 = f64x2.splat(0);
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const at = (<usize>i) << 2;
    let g0 = v128.load(gp + at);
    let g1 = v128.load(gp + at, 16);
    if (scaled) {
      g0 = f32x4.mul(g0, scalev);
      g1 = f32x4.mul(g1, scalev);
    }
    const m0 = v128.load(mp + at);
    const m1 = v128.load(mp + at, 16);
    const gg0 = f32x4.mul(g0, g0);
    const gg1 = f32x4.mul(g1, g1);
    const v0 = secondMoment(v128.load(vp + at), gg0, beta2v, w2v);
    const v1 = secondMoment(v128.load(vp + at, 16), gg1, beta2v, w2v);
    v128.store(mp + at, madd(w1v, f32x4.sub(g0, m0), m0));
    v128.store(mp + at, madd(w1v, f32x4.sub(g1, m1), m1), 16);
    v128.store(vp + at, v0);
    v128.store(vp + at, v1, 16);
    const r0 = ratio(gg0, v0, epsSqv);
    const r1 = ratio(gg1, v1, epsSqv);
    acc0 = f64x2.add(acc0, f64x2.promote_low_f32x4(r0));
    acc1 = f64x2.add(acc1, f64x2.promote_low_f32x4(highHalf(r0)));
    acc2 = f64x2.add(acc2, f64x2.promote_low_f32x4(r1));
    acc3 = f64x2.add(acc3, f64x2.promote_low_f32x4(highHalf(r1)));
  }
  acc0 = f64x2.add(f64x2.add(acc0, acc1), f64x2.add(acc2, acc3));
  let sum = f64x2.extract_lane(acc0, 0) + f64x2.extract_lane(acc0, 1);
  for (; i < n; i++) {
    const at = (<usize>i) << 2;
    const g = scaled ? load<f32>(gp + at) * gradScale : load<f32>(gp + at);
    const m = load<f32>(mp + at);
    const gg = g * g;
    const v = f32x4.extract_lane(secondMoment(f32x4.splat(load<f32>(vp + at)), f32x4.splat(gg), beta2v, w2v), 0);
    store<f32>(mp + at, f32x4.extract_lane(madd(w1v, f32x4.splat(g - m), f32x4.splat(m)), 0));
    store<f32>(vp + at, v);
    sum += <f64>(gg / max(v, epsSq));
  }
  return sum;
}

/** Phase 2 over float32 blocks [from, to) (fused blocks are done): θ ← θ·decay; θ ← θ − η·m/(√v + ε). */
export function updateF32(table: usize, blocks: usize, from: i32, to: i32): void {
  for (let b = from; b < to; b++) {
    const entry = blocks + <usize>b * BLOCK_BYTES;
    const d = descriptorOf(table, blocks, b);
    if (!load<u32>(d + D_FUSED)) updateRangeF32(d, load<u32>(entry + B_START), <i32>load<u32>(entry + B_COUNT));
  }
}

function updateRangeF32(d: usize, start: u32, n: i32): void {
  const offset = (<usize>start) << 2;
  const pp = <usize>load<u32>(d + D_PARAM) + offset;
  const mp = <usize>load<u32>(d + D_EXP_AVG) + offset;
  const vp = <usize>load<u32>(d + D_EXP_AVG_SQ) + offset;
  const negEta = load<f32>(d + D_NEG_ETA);
  const decay = load<f32>(d + D_DECAY);
  const eps = load<f32>(d + D_EPS);
  const negEtav = f32x4.splat(negEta);
  const decayv = f32x4.splat(decay);
  const epsv = f32x4.splat(eps);
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const at = (<usize>i) << 2;
    const u0 = f32x4.div(f32x4.mul(negEtav, v128.load(mp + at)), f32x4.add(f32x4.sqrt(v128.load(vp + at)), epsv));
    const u1 = f32x4.div(f32x4.mul(negEtav, v128.load(mp + at, 16)), f32x4.add(f32x4.sqrt(v128.load(vp + at, 16)), epsv));
    v128.store(pp + at, madd(v128.load(pp + at), decayv, u0));
    v128.store(pp + at, madd(v128.load(pp + at, 16), decayv, u1), 16);
  }
  for (; i < n; i++) {
    const at = (<usize>i) << 2;
    const u = (negEta * load<f32>(mp + at)) / (sqrt<f32>(load<f32>(vp + at)) + eps);
    store<f32>(pp + at, f32x4.extract_lane(madd(f32x4.splat(load<f32>(pp + at)), decayv, f32x4.splat(u)), 0));
  }
}

// ---------------------------------------------------------------- 16-bit formats
// The half-precision kernels are generic over a marker type: u16 for bfloat16, i16 for float16
// (resolved at compile time, so each export has straight-line code for its format). Values are
// widened exactly; roundings to 16 bits come in two kinds: `bits16` (no NaN handling, for the fast
// paths, which check for NaN once per eight lanes) and `narrowNan` (every input).

/** The low (or high) four 16-bit lanes of `x` shifted into the high half of 32-bit lanes (one unpack). */
function highHalves(x: v128, high: bool): v128 {
  const zero = i16x8.splat(0);
  return high ? v128.shuffle<i16>(zero, x, 4, 12, 5, 13, 6, 14, 7, 15) : v128.shuffle<i16>(zero, x, 0, 8, 1, 9, 2, 10, 3, 11);
}

/**
 * float16 bits in the high half of each lane (`s` = h << 16) → float32, exact for every pattern.
 * With the magnitude rebiased (`normal`), a subnormal or zero h would be off; `renormalised` is
 * exact there (a subtraction of normal numbers: a multiply by 2^112 would take subnormal float32
 * operands, which x86 handles in slow microcode) and above `normal` everywhere else, so the
 * smaller of the two is right. Exponent 31 (inf, NaN) is rebiased once more.
 */
function f16Widen(s: v128): v128 {
  const magnitude = i32x4.shr_u(i32x4.shl(s, 1), 4);
  const normal = i32x4.add(magnitude, i32x4.splat(112 << 23));
  const renormalised = f32x4.sub(i32x4.add(magnitude, i32x4.splat(113 << 23)), f32x4.splat(<f32>6.103515625e-5)); // 2^-14
  let bits = f32x4.pmin(normal, renormalised);
  bits = i32x4.add(bits, v128.and(i32x4.gt_s(magnitude, i32x4.splat(0x0f7fffff)), i32x4.splat(112 << 23)));
  return v128.or(bits, v128.and(s, i32x4.splat(0x80000000)));
}

/** The low (or high) four 16-bit values of `x` as float32. */
function widenLow<T>(x: v128): v128 {
  const s = highHalves(x, false);
  return isSigned<T>() ? f16Widen(s) : s;
}

function widenHigh<T>(x: v128): v128 {
  const s = highHalves(x, true);
  return isSigned<T>() ? f16Widen(s) : s;
}

/**
 * Whether all eight float16 values of `x` are normal (no zero, subnormal, inf or NaN): then
 * `widenNormal` widens them; always false for bfloat16, whose widening is one unpack anyway.
 */
function allNormal<T>(x: v128): bool {
  if (!isSigned<T>()) return false;
  const exponent = v128.and(x, i16x8.splat(0x7c00));
  return i16x8.all_true(v128.and(exponent, i16x8.ne(exponent, i16x8.splat(0x7c00))));
}

/**
 * Normal float16 values (`s` = h << 16) → float32: the arithmetic shift keeps the sign and moves
 * exponent and mantissa into place, the mask drops the sign's copies, and the exponent is rebiased.
 */
function widenNormal(s: v128): v128 {
  return i32x4.add(v128.and(i32x4.shr_s(s, 3), i32x4.splat(0x8fffffff)), i32x4.splat(112 << 23));
}

/** `widenLow`, taking the short way when `normal` (from `allNormal`). */
function widenLowIf<T>(x: v128, normal: bool): v128 {
  return normal ? widenNormal(highHalves(x, false)) : widenLow<T>(x);
}

function widenHighIf<T>(x: v128, normal: bool): v128 {
  return normal ? widenNormal(highHalves(x, true)) : widenHigh<T>(x);
}

/**
 * The float16 grid of |x| as a float32 power of two: adding it to |x| rounds to float16 spacing,
 * 2^(e + 13) for exponent e ≥ −14 (and 2^-1, spacing 2^-24, for the subnormals). `a` is |x| as bits.
 */
function f16Grid(a: v128): v128 {
  return i32x4.add(i32x4.max_s(v128.and(a, i32x4.splat(0x7f800000)), i32x4.splat(113 << 23)), i32x4.splat(13 << 23));
}

/**
 * float32 → 16-bit bits in the low half of each lane, rounded to nearest even; ±inf and overflow
 * give ±inf, NaN is not handled (see `narrowNan`). bfloat16: an integer add of 0x7fff + the kept
 * last bit. float16: |x| (capped at 2^16, which rounds to inf) plus the grid power c rounds in the
 * float adder; (sum − c) counts grid steps, and the exponent part is added back.
 */
function bits16<T>(x: v128): v128 {
  if (!isSigned<T>()) {
    const odd = v128.and(i32x4.shr_u(x, 16), i32x4.splat(1));
    return i32x4.shr_u(i32x4.add(i32x4.add(x, i32x4.splat(0x7fff)), odd), 16);
  }
  return f16Bits(x, i32x4.min_s(v128.and(x, i32x4.splat(0x7fffffff)), i32x4.splat(0x47800000)));
}

/** float16 bits of x from `a`, |x| as bits (below 2^16 or capped there). */
function f16Bits(x: v128, a: v128): v128 {
  const c = f16Grid(a);
  const steps = i32x4.sub(f32x4.add(a, c), c);
  const exponent = i32x4.sub(i32x4.shr_u(c, 13), i32x4.splat((113 + 13) << 10));
  return v128.or(i32x4.add(steps, exponent), v128.and(i32x4.shr_u(x, 16), i32x4.splat(0x8000)));
}

/** As `bits16`, with NaN → the canonical NaN (0x7fc0 bfloat16, 0x7e00 float16). */
function narrowNan<T>(x: v128): v128 {
  return v128.bitselect(i32x4.splat(isSigned<T>() ? 0x7e00 : 0x7fc0), bits16<T>(x), f32x4.ne(x, x));
}

/**
 * x rounded to the 16-bit format, kept as float32 (finite results only: NaN, and for float16
 * |x| ≥ 65520, are left to the caller's check).
 */
function rounded<T>(x: v128): v128 {
  if (!isSigned<T>()) {
    const odd = v128.and(i32x4.shr_u(x, 16), i32x4.splat(1));
    return v128.and(i32x4.add(i32x4.add(x, i32x4.splat(0x7fff)), odd), i32x4.splat(0xffff0000));
  }
  const a = v128.and(x, i32x4.splat(0x7fffffff));
  const c = f16Grid(a);
  return v128.or(f32x4.sub(f32x4.add(a, c), c), v128.and(x, i32x4.splat(0x80000000)));
}

/**
 * Bits of `q` = rounded<T>(x) (exact in the format). float16 rounds x again, from the same |x|
 * and grid as `rounded` (the engine computes those once), which is shorter than starting from q.
 */
function bitsOfRounded<T>(q: v128, x: v128): v128 {
  return isSigned<T>() ? f16Bits(x, v128.and(x, i32x4.splat(0x7fffffff))) : i32x4.shr_u(q, 16);
}

/** Eight 16-bit patterns (low halves of two vectors of lanes) packed into one vector. */
function pack(lo: v128, hi: v128): v128 {
  return i16x8.narrow_i32x4_u(lo, hi);
}

/**
 * Whether any lane of phase 2's values — θ·decay (a, b), θ + k (c, d) and k + (θ − θ') (e, f) —
 * cannot take the fast path's rounding. bfloat16: a NaN; one in θ·decay or θ + k always reaches
 * k + (θ − θ') (a NaN or infinite θ or k makes it NaN, θ' included), so e and f tell, and a NaN
 * in either makes their sum NaN (inf − inf only sends a vector to the exact path). float16: also
 * |x| ≥ 65520 in any of the six, where float16 overflows (as bits, NaN lies above).
 */
function anyNotFast<T>(a: v128, b: v128, c: v128, d: v128, e: v128, f: v128): bool {
  if (!isSigned<T>()) {
    const sum = f32x4.add(e, f);
    return v128.any_true(f32x4.ne(sum, sum));
  }
  const mask = i32x4.splat(0x7fffffff);
  const top = i32x4.max_s(
    i32x4.max_s(i32x4.max_s(v128.and(a, mask), v128.and(b, mask)), i32x4.max_s(v128.and(c, mask), v128.and(d, mask))),
    i32x4.max_s(v128.and(e, mask), v128.and(f, mask)),
  );
  return v128.any_true(i32x4.gt_s(top, i32x4.splat(0x477fefff)));
}

function widen1<T>(bits: u16): f32 {
  return f32x4.extract_lane(widenLow<T>(i16x8.splat(bits)), 0);
}

function narrow1<T>(x: f32): u16 {
  return <u16>i32x4.extract_lane(narrowNan<T>(f32x4.splat(x)), 0);
}

/**
 * Four float64 values (two per vector) rounded once to the 16-bit format, to nearest even, as bits
 * in the low half of each 32-bit lane; NaN gives the canonical NaN, overflow ±inf.
 * The grid trick in float64: with E = max(exponent of |x|, the format's least normal exponent) and
 * C = 2^(E + 52 − mantissa bits), the float64 sum |x| + C lies in C's binade, where the adder's
 * spacing is the format's spacing at |x| (normal or subnormal alike), so it rounds |x| once to the
 * format. The sum's low 32 bits then count grid steps, which plus (E − least exponent + 1) shifted
 * to the exponent field is the format's pattern (a carry into the next binade lands right, as does
 * |x| capped at the first power of two that overflows, which gives inf). Integer lanes, no branch.
 */
function roundF64<T>(lo: v128, hi: v128): v128 {
  // bfloat16: 7 mantissa bits, least exponent −126, overflow at 2^128; float16: 10, −14, 2^16.
  const mantissaBits = isSigned<T>() ? 10 : 7;
  const least: i32 = isSigned<T>() ? 1023 - 14 : 1023 - 126;
  const cap = f64x2.splat(reinterpret<f64>(isSigned<T>() ? 0x40f0000000000000 : 0x47f0000000000000)); // 2^16, 2^128
  const absMask = i64x2.splat(i64.MAX_VALUE);
  // pmin keeps a NaN |x| (its first operand), which then lies above the cap as bits.
  const aLo = f64x2.pmin(v128.and(lo, absMask), cap);
  const aHi = f64x2.pmin(v128.and(hi, absMask), cap);
  const high = v128.shuffle<i32>(aLo, aHi, 1, 3, 5, 7);
  const exponent = i32x4.max_s(v128.and(high, i32x4.splat(0x7ff00000)), i32x4.splat(least << 20));
  const c = i32x4.add(exponent, i32x4.splat((52 - mantissaBits) << 20));
  const zero = i32x4.splat(0);
  const sumLo = f64x2.add(aLo, v128.shuffle<i32>(zero, c, 0, 4, 1, 5));
  const sumHi = f64x2.add(aHi, v128.shuffle<i32>(zero, c, 2, 6, 3, 7));
  const steps = v128.shuffle<i32>(sumLo, sumHi, 0, 2, 4, 6);
  const magnitude = i32x4.add(steps, i32x4.sub(i32x4.shr_u(exponent, 20 - mantissaBits), i32x4.splat(least << mantissaBits)));
  const sign = i32x4.shr_u(v128.and(v128.shuffle<i32>(lo, hi, 1, 3, 5, 7), i32x4.splat(0x80000000)), 16);
  const nan = i32x4.gt_s(high, i32x4.splat(isSigned<T>() ? 0x40f00000 : 0x47f00000));
  return v128.bitselect(i32x4.splat(isSigned<T>() ? 0x7e00 : 0x7fc0), v128.or(magnitude, sign), nan);
}

/** m + w1·(g − m) in float64 for the low (or high) two lanes of m and g, as the typed-array kernel computes it. */
function lerpF64(m: v128, g: v128, w1: v128, high: bool): v128 {
  const m64 = f64x2.promote_low_f32x4(high ? highHalf(m) : m);
  return f64x2.add(m64, f64x2.mul(w1, f64x2.sub(f64x2.promote_low_f32x4(high ? highHalf(g) : g), m64)));
}

/** Four float64 values (two per vector) rounded to float32, in one vector. */
function demote(lo: v128, hi: v128): v128 {
  return v128.shuffle<f32>(f32x4.demote_f64x2_zero(lo), f32x4.demote_f64x2_zero(hi), 0, 1, 4, 5);
}

/**
 * Whether four float32 lanes (`r`, rounded from float64) might round to bfloat16 differently from
 * their float64 values: rounding twice errs only where the float32 value lands exactly on a
 * bfloat16 midpoint (low half 0x8000), which the float64 value then need not have been.
 */
function onMidpoint(r: v128): v128 {
  return i32x4.eq(v128.and(r, i32x4.splat(0xffff)), i32x4.splat(0x8000));
}

/**
 * Phase 1 over 16-bit blocks (gradients in the same format, multiplied by gradScale after widening):
 * float32, but the first moment in float64, rounded once.
 */
function momentsHalf<T>(table: usize, blocks: usize, partials: usize, from: i32, to: i32): void {
  for (let b = from; b < to; b++) {
    const entry = blocks + <usize>b * BLOCK_BYTES;
    const d = descriptorOf(table, blocks, b);
    const start = load<u32>(entry + B_START);
    const n = <i32>load<u32>(entry + B_COUNT);
    const sum = momentsRangeHalf<T>(d, start, n);
    store<f64>(partials + ((<usize>b) << 3), sum);
    if (fuse(d, sum)) updateRangeHalf<T>(d, start, n);
  }
}

/**
 * Phase 1 of one 16-bit block, returning its Σ g²/max(v, ε²). The first moment is computed in
 * float64 for every lane, as the typed-array kernel does, and rounded once: float16 by `roundF64`,
 * bfloat16 through float32 (two instructions where `roundF64` takes about twenty) except for a
 * vector with a lane on a midpoint (`onMidpoint`) or a NaN moment, which takes `roundF64` too.
 */
function momentsRangeHalf<T>(d: usize, start: u32, n: i32): f64 {
  const offset = (<usize>start) << 1;
  const gp = <usize>load<u32>(d + D_GRAD) + offset;
  const mp = <usize>load<u32>(d + D_EXP_AVG) + offset;
  const vp = <usize>load<u32>(d + D_EXP_AVG_SQ) + offset;
  const w1 = load<f64>(d + D_W1_F64);
  const beta2 = load<f32>(d + D_BETA2);
  const w2 = load<f32>(d + D_W2);
  const epsSq = load<f32>(d + D_EPS_SQ);
  const gradScale = load<f32>(d + D_GRAD_SCALE);
  const scalev = f32x4.splat(gradScale);
  const w1d = f64x2.splat(w1);
  const beta2v = f32x4.splat(beta2);
  const w2v = f32x4.splat(w2);
  const epsSqv = f32x4.splat(epsSq);
  let acc0 = f64x2.splat(0);
  let acc1 = f64x2.splat(0);
  let acc2 = f64x2.splat(0);
  let acc3 = f64x2.splat(0);
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const at = (<usize>i) << 1;
    const g8 = v128.load(gp + at);
    const m8 = v128.load(mp + at);
    const v8 = v128.load(vp + at);
    // Multiplying by 1 (no loss scaler) changes nothing.
    const gNormal = allNormal<T>(g8);
    const mNormal = allNormal<T>(m8);
    const gLo = f32x4.mul(widenLowIf<T>(g8, gNormal), scalev);
    const gHi = f32x4.mul(widenHighIf<T>(g8, gNormal), scalev);
    const mLo = widenLowIf<T>(m8, mNormal);
    const mHi = widenHighIf<T>(m8, mNormal);
    const ggLo = f32x4.mul(gLo, gLo);
    const ggHi = f32x4.mul(gHi, gHi);
    // No fused multiply-add here: the 16-bit kernels round as the typed-array kernels do.
    const vLo = f32x4.add(f32x4.mul(beta2v, widenLow<T>(v8)), f32x4.mul(w2v, ggLo));
    const vHi = f32x4.add(f32x4.mul(beta2v, widenHigh<T>(v8)), f32x4.mul(w2v, ggHi));
    const qLo = ratio(ggLo, vLo, epsSqv);
    const qHi = ratio(ggHi, vHi, epsSqv);
    acc0 = f64x2.add(acc0, f64x2.promote_low_f32x4(qLo));
    acc1 = f64x2.add(acc1, f64x2.promote_low_f32x4(highHalf(qLo)));
    acc2 = f64x2.add(acc2, f64x2.promote_low_f32x4(qHi));
    acc3 = f64x2.add(acc3, f64x2.promote_low_f32x4(highHalf(qHi)));
    const l0 = lerpF64(mLo, gLo, w1d, false);
    const l1 = lerpF64(mLo, gLo, w1d, true);
    const l2 = lerpF64(mHi, gHi, w1d, false);
    const l3 = lerpF64(mHi, gHi, w1d, true);
    if (!isSigned<T>()) {
      // bfloat16: the first moment through float32 (see `onMidpoint`), unless a lane is on a
      // midpoint or either moment has a NaN (which makes the sum NaN; inf − inf only costs time).
      const rLo = demote(l0, l1);
      const rHi = demote(l2, l3);
      const total = f32x4.add(f32x4.add(rLo, rHi), f32x4.add(vLo, vHi));
      if (!v128.any_true(v128.or(v128.or(onMidpoint(rLo), onMidpoint(rHi)), f32x4.ne(total, total)))) {
        v128.store(mp + at, pack(bits16<T>(rLo), bits16<T>(rHi)));
        v128.store(vp + at, pack(bits16<T>(vLo), bits16<T>(vHi)));
        continue;
      }
    }
    v128.store(mp + at, pack(roundF64<T>(l0, l1), roundF64<T>(l2, l3)));
    v128.store(vp + at, pack(narrowNan<T>(vLo), narrowNan<T>(vHi)));
  }
  acc0 = f64x2.add(f64x2.add(acc0, acc1), f64x2.add(acc2, acc3));
  let sum = f64x2.extract_lane(acc0, 0) + f64x2.extract_lane(acc0, 1);
  for (; i < n; i++) {
    const at = (<usize>i) << 1;
    const g = widen1<T>(load<u16>(gp + at)) * gradScale;
    const m = widen1<T>(load<u16>(mp + at));
    const gg = g * g;
    const v = beta2 * widen1<T>(load<u16>(vp + at)) + w2 * gg;
    const lerp = f64x2.splat(<f64>m + w1 * (<f64>g - <f64>m));
    store<u16>(mp + at, <u16>i32x4.extract_lane(roundF64<T>(lerp, lerp), 0));
    store<u16>(vp + at, narrow1<T>(v));
    sum += <f64>(gg / max(v, epsSq));
  }
  return sum;
}

/**
 * Phase 2 over 16-bit blocks (fused blocks are done): θ ← round(θ·decay), then θ ← θ − η·m/(√v + ε), through the Kahan
 * buffer when the descriptor has one: k ← k + Δ; θ' = round(θ + k); k ← round(k + (θ − θ')).
 */
function updateHalf<T>(table: usize, blocks: usize, from: i32, to: i32): void {
  for (let b = from; b < to; b++) {
    const entry = blocks + <usize>b * BLOCK_BYTES;
    const d = descriptorOf(table, blocks, b);
    if (!load<u32>(d + D_FUSED)) updateRangeHalf<T>(d, load<u32>(entry + B_START), <i32>load<u32>(entry + B_COUNT));
  }
}

/**
 * Whether round(θ·decay) = θ for every θ of the format: |1 − decay| below 2^-(p+2), p significant
 * bits (2^-10 bfloat16, 2^-13 float16), moves θ by less than half its spacing, subnormals
 * included: phase 2 then skips the multiply and rounding. The typed-array kernels skip by the same
 * rule (`HalfCodec.idleDecay`); at usual settings (lr·weightDecay around 1e-4 or less) it holds.
 */
function idleDecay<T>(decay: f32): bool {
  return abs<f32>(1 - decay) < (isSigned<T>() ? <f32>0.0001220703125 : <f32>0.0009765625);
}

/**
 * Phase 2 of one 16-bit block. Eight lanes at a time with the rounded values kept as float32
 * (`rounded`) and packed only at the stores; a group whose values need the exact rounding (NaN,
 * float16 overflow: `anyNotFast`) runs lane by lane instead (`updateOne`), with the same result.
 */
function updateRangeHalf<T>(d: usize, start: u32, n: i32): void {
  if (idleDecay<T>(load<f32>(d + D_DECAY))) updateRangeHalfAs<T, Idle>(d, start, n);
  else updateRangeHalfAs<T, Decays>(d, start, n);
}

// Marker types: whether phase 2 multiplies θ by the decay factor and rounds it (see `idleDecay`):
// two copies of the loop, since a branch in it costs as much as the multiply and rounding saved.
type Decays = f32;
type Idle = u32;

function updateRangeHalfAs<T, D>(d: usize, start: u32, n: i32): void {
  const decays = isFloat<D>();
  const offset = (<usize>start) << 1;
  const pp = <usize>load<u32>(d + D_PARAM) + offset;
  const mp = <usize>load<u32>(d + D_EXP_AVG) + offset;
  const vp = <usize>load<u32>(d + D_EXP_AVG_SQ) + offset;
  const kahan = <usize>load<u32>(d + D_KAHAN);
  const kp = kahan + offset;
  const negEta = load<f32>(d + D_NEG_ETA);
  const decay = load<f32>(d + D_DECAY);
  const eps = load<f32>(d + D_EPS);
  const negEtav = f32x4.splat(negEta);
  const decayv = f32x4.splat(decay);
  const epsv = f32x4.splat(eps);
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const at = (<usize>i) << 1;
    const p8 = v128.load(pp + at);
    const pNormal = allNormal<T>(p8);
    let dLo = widenLowIf<T>(p8, pNormal);
    let dHi = widenHighIf<T>(p8, pNormal);
    let pLo = dLo;
    let pHi = dHi;
    if (decays) {
      dLo = f32x4.mul(dLo, decayv);
      dHi = f32x4.mul(dHi, decayv);
      pLo = rounded<T>(dLo);
      pHi = rounded<T>(dHi);
    }
    const m8 = v128.load(mp + at);
    const v8 = v128.load(vp + at);
    const mNormal = allNormal<T>(m8);
    let uLo = f32x4.div(f32x4.mul(negEtav, widenLowIf<T>(m8, mNormal)), f32x4.add(f32x4.sqrt(widenLow<T>(v8)), epsv));
    let uHi = f32x4.div(f32x4.mul(negEtav, widenHighIf<T>(m8, mNormal)), f32x4.add(f32x4.sqrt(widenHigh<T>(v8)), epsv));
    if (kahan) {
      const k8 = v128.load(kp + at);
      uLo = f32x4.add(widenLow<T>(k8), uLo);
      uHi = f32x4.add(widenHigh<T>(k8), uHi);
    }
    const sLo = f32x4.add(pLo, uLo);
    const sHi = f32x4.add(pHi, uHi);
    const qLo = rounded<T>(sLo);
    const qHi = rounded<T>(sHi);
    // k + (θ − θ'): without Kahan it is only computed for the check.
    const cLo = f32x4.add(uLo, f32x4.sub(pLo, qLo));
    const cHi = f32x4.add(uHi, f32x4.sub(pHi, qHi));
    if (anyNotFast<T>(dLo, dHi, sLo, sHi, cLo, cHi)) {
      for (let j = 0; j < 8; j++) updateOne<T>(pp, mp, vp, kahan ? kp : 0, (<usize>(i + j)) << 1, negEta, decay, eps);
      continue;
    }
    v128.store(pp + at, pack(bitsOfRounded<T>(qLo, sLo), bitsOfRounded<T>(qHi, sHi)));
    if (kahan) v128.store(kp + at, pack(bits16<T>(cLo), bits16<T>(cHi)));
  }
  for (; i < n; i++) updateOne<T>(pp, mp, vp, kahan ? kp : 0, (<usize>i) << 1, negEta, decay, eps);
}

/** Phase 2 of one element at byte offset `at` (kp: 0 without Kahan), with the exact roundings. */
function updateOne<T>(pp: usize, mp: usize, vp: usize, kp: usize, at: usize, negEta: f32, decay: f32, eps: f32): void {
  const p = widen1<T>(narrow1<T>(widen1<T>(load<u16>(pp + at)) * decay));
  let u = (negEta * widen1<T>(load<u16>(mp + at))) / (sqrt<f32>(widen1<T>(load<u16>(vp + at))) + eps);
  if (kp) {
    u += widen1<T>(load<u16>(kp + at));
    const updated = narrow1<T>(p + u);
    store<u16>(pp + at, updated);
    store<u16>(kp + at, narrow1<T>(u + (p - widen1<T>(updated))));
  } else {
    store<u16>(pp + at, narrow1<T>(p + u));
  }
}

export function momentsBf16(table: usize, blocks: usize, partials: usize, from: i32, to: i32): void {
  momentsHalf<u16>(table, blocks, partials, from, to);
}

export function updateBf16(table: usize, blocks: usize, from: i32, to: i32): void {
  updateHalf<u16>(table, blocks, from, to);
}

export function momentsF16(table: usize, blocks: usize, partials: usize, from: i32, to: i32): void {
  momentsHalf<i16>(table, blocks, partials, from, to);
}

export function updateF16(table: usize, blocks: usize, from: i32, to: i32): void {
  updateHalf<i16>(table, blocks, from, to);
}

// ---------------------------------------------------------------- non-finite scan

/**
 * 1 when any of the `n` float32 gradients at byte pointer `p` is NaN or ±Inf (all exponent bits
 * set), else 0. Read-only; runs before phase 1 when a group's `nonFinite` policy asks for it.
 */
export function nonFiniteF32(p: usize, n: i32): i32 {
  const mask = i32x4.splat(0x7f800000);
  let found = i32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) found = v128.or(found, i32x4.eq(v128.and(v128.load(p + ((<usize>i) << 2)), mask), mask));
  let any: i32 = v128.any_true(found) ? 1 : 0;
  for (; i < n; i++) if ((load<u32>(p + ((<usize>i) << 2)) & 0x7f800000) === 0x7f800000) any = 1;
  return any;
}

/** As `nonFiniteF32` for 16-bit gradients: `mask` holds the format's exponent bits (0x7f80 bfloat16, 0x7c00 float16). */
export function nonFinite16(p: usize, n: i32, mask: i32): i32 {
  const m = i16x8.splat(<i16>mask);
  let found = i16x8.splat(0);
  let i = 0;
  for (; i + 8 <= n; i += 8) found = v128.or(found, i16x8.eq(v128.and(v128.load(p + ((<usize>i) << 1)), m), m));
  let any: i32 = v128.any_true(found) ? 1 : 0;
  for (; i < n; i++) if ((<i32>load<u16>(p + ((<usize>i) << 1)) & mask) === mask) any = 1;
  return any;
}
