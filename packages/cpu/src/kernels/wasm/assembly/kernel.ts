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
// (resolved at compile time, so each export has straight-line code for its format).

function bf16Widen(x: v128): v128 {
  return i32x4.shl(x, 16);
}

/** float32 → bfloat16 bits in the low half of each lane: round to nearest even, NaN → 0x7fc0. */
function bf16Round(x: v128): v128 {
  const lsb = v128.and(i32x4.shr_u(x, 16), i32x4.splat(1));
  const rounded = i32x4.shr_u(i32x4.add(i32x4.add(x, i32x4.splat(0x7fff)), lsb), 16);
  return v128.bitselect(i32x4.splat(0x7fc0), rounded, f32x4.ne(x, x));
}

/**
 * float16 bits (low half of each lane) → float32 with integer rebiasing; zeros and subnormals are
 * renormalised by one subtraction of normal numbers (a multiply by 2^112 would take subnormal
 * float32 operands, which x86 handles in slow microcode).
 */
function f16Widen(h: v128): v128 {
  const shifted = i32x4.shl(v128.and(h, i32x4.splat(0x7fff)), 13);
  const exponent = v128.and(shifted, i32x4.splat(0x0f800000));
  let bits = i32x4.add(shifted, i32x4.splat(112 << 23));
  bits = i32x4.add(bits, v128.and(i32x4.eq(exponent, i32x4.splat(0x0f800000)), i32x4.splat(112 << 23))); // inf, NaN
  const renormalised = f32x4.sub(i32x4.add(bits, i32x4.splat(1 << 23)), i32x4.splat(113 << 23));
  bits = v128.bitselect(renormalised, bits, i32x4.eq(exponent, i32x4.splat(0)));
  return v128.or(bits, i32x4.shl(v128.and(h, i32x4.splat(0x8000)), 16));
}

/** float32 → float16 bits in the low half of each lane: round to nearest even, NaN → 0x7e00. */
function f16Round(x: v128): v128 {
  // |x| as bits is non-negative, so signed compares (native on x86, unlike unsigned) order it.
  const a = v128.and(x, i32x4.splat(0x7fffffff));
  // ≥ 65536 (or inf, NaN): inf or NaN.
  const big = i32x4.gt_s(a, i32x4.splat(0x47800000 - 1));
  const nan = i32x4.gt_s(a, i32x4.splat(0x7f800000));
  const overflow = v128.bitselect(i32x4.splat(0x7e00), i32x4.splat(0x7c00), nan);
  // Below 2^-14: float16 subnormals, rounded by adding 0.5 in float32.
  const small = i32x4.lt_s(a, i32x4.splat(0x38800000));
  const subnormal = i32x4.sub(f32x4.add(a, f32x4.splat(0.5)), i32x4.splat(0x3f000000));
  // Normal: rebias the exponent and round the 13 dropped bits to nearest even.
  const odd = v128.and(i32x4.shr_u(a, 13), i32x4.splat(1));
  const normal = i32x4.shr_u(i32x4.add(i32x4.add(a, i32x4.splat(0xc8000fff)), odd), 13);
  const bits = v128.bitselect(overflow, v128.bitselect(subnormal, normal, small), big);
  return v128.or(bits, v128.andnot(i32x4.shr_u(v128.and(x, i32x4.splat(0x80000000)), 16), nan));
}

/** The low (or high) four 16-bit values of `x` as float32. */
function widenLow<T>(x: v128): v128 {
  const lanes = i32x4.extend_low_i16x8_u(x);
  return isSigned<T>() ? f16Widen(lanes) : bf16Widen(lanes);
}

function widenHigh<T>(x: v128): v128 {
  const lanes = i32x4.extend_high_i16x8_u(x);
  return isSigned<T>() ? f16Widen(lanes) : bf16Widen(lanes);
}

/** Eight float32 values (two vectors) rounded to eight 16-bit values. */
function narrow8<T>(lo: v128, hi: v128): v128 {
  return isSigned<T>() ? i16x8.narrow_i32x4_u(f16Round(lo), f16Round(hi)) : i16x8.narrow_i32x4_u(bf16Round(lo), bf16Round(hi));
}

function widen1<T>(bits: u16): f32 {
  return f32x4.extract_lane(widenLow<T>(i16x8.splat(bits)), 0);
}

function narrow1<T>(x: f32): u16 {
  const v = f32x4.splat(x);
  return <u16>i32x4.extract_lane(isSigned<T>() ? f16Round(v) : bf16Round(v), 0);
}

/**
 * Narrows float64 to float32 rounding to odd (an inexact result gets an odd last bit), so that the
 * 16-bit rounding that follows equals one rounding of the float64 value (float32 keeps more than
 * two extra bits). Round-to-nearest picked one of the two float32 neighbours; where that one is
 * even and inexact, step to the other.
 */
function narrowOdd(lo: v128, hi: v128): v128 {
  const r = v128.shuffle<f32>(f32x4.demote_f64x2_zero(lo), f32x4.demote_f64x2_zero(hi), 0, 1, 4, 5);
  const backLo = f64x2.abs(f64x2.promote_low_f32x4(r));
  const backHi = f64x2.abs(f64x2.promote_low_f32x4(highHalf(r)));
  const up = v128.shuffle<i32>(f64x2.gt(f64x2.abs(lo), backLo), f64x2.gt(f64x2.abs(hi), backHi), 0, 2, 4, 6);
  const down = v128.shuffle<i32>(f64x2.lt(f64x2.abs(lo), backLo), f64x2.lt(f64x2.abs(hi), backHi), 0, 2, 4, 6);
  const one = i32x4.splat(1);
  const step = i32x4.sub(v128.and(up, one), v128.and(down, one));
  return i32x4.add(r, v128.and(step, i32x4.eq(v128.and(r, one), i32x4.splat(0))));
}

function narrowOdd1(x: f64): f32 {
  const r = <f32>x;
  let bits = reinterpret<u32>(r);
  if ((bits & 1) === 0) {
    const back = abs<f64>(<f64>r);
    if (abs<f64>(x) > back) bits += 1;
    else if (abs<f64>(x) < back) bits -= 1;
  }
  return reinterpret<f32>(bits);
}

/**
 * m + w1·(g − m) lane by lane in float64 (as the typed-array kernel computes it), narrowed so that
 * its 16-bit rounding is a single rounding of the float64 result: where the lerp cancels, float32
 * arithmetic or double rounding would miss it by several ulps.
 */
function lerpF64(m: v128, g: v128, w1: v128): v128 {
  const mLo = f64x2.promote_low_f32x4(m);
  const mHi = f64x2.promote_low_f32x4(highHalf(m));
  const lo = f64x2.add(mLo, f64x2.mul(w1, f64x2.sub(f64x2.promote_low_f32x4(g), mLo)));
  const hi = f64x2.add(mHi, f64x2.mul(w1, f64x2.sub(f64x2.promote_low_f32x4(highHalf(g)), mHi)));
  return narrowOdd(lo, hi);
}

/**
 * Lanes where m + w1·(g − m) computed in float32 (`r`, with `t` = w1·(g − m)) may round to another
 * 16-bit value than the float64 lerp (`lerpF64`): all bits set there. Against the exact value, each
 * of the float32 steps (w1 itself, g − m, the product, the sum) errs by at most 2^-24 of |t| or
 * |r|, and the float64 lerp by far less, so both lie within err = 2^-21·(|t| + |r|) of each other.
 * A lane is sure when no rounding midpoint of the 16-bit format lies that close to r and err < |r|
 * (same sign, not zero). The spacing G of the format at |r| is a power of two taken from r's
 * exponent (float16: at least 2^-24, its subnormal spacing; bfloat16 below 2^-119 is left to
 * float64), so |r|/G and its distance to the nearest midpoint are exact. NaN and inf are unsure.
 */
function unsureLanes<T>(r: v128, t: v128): v128 {
  const absMask = i32x4.splat(0x7fffffff);
  const a = v128.and(r, absMask);
  const err = f32x4.mul(f32x4.add(a, v128.and(t, absMask)), f32x4.splat(<f32>4.76837158203125e-7)); // × 2^-21
  // bfloat16: 2^-119 (G = 2^-126) and 7 bits of mantissa; float16: 2^-14 and 10 bits.
  const minExponent = i32x4.splat(isSigned<T>() ? 113 << 23 : 8 << 23);
  const exponent = i32x4.max_s(v128.and(a, i32x4.splat(0x7f800000)), minExponent);
  const inverse = i32x4.sub(i32x4.splat((254 + (isSigned<T>() ? 10 : 7)) << 23), exponent); // 1/G
  const u = f32x4.mul(a, inverse);
  const distance = f32x4.abs(f32x4.sub(f32x4.sub(u, f32x4.floor(u)), f32x4.splat(0.5)));
  let sure = v128.and(f32x4.lt(f32x4.mul(err, inverse), distance), f32x4.lt(err, a));
  if (!isSigned<T>()) sure = v128.and(sure, i32x4.ge_s(a, minExponent));
  return v128.not(sure);
}

/**
 * Phase 1 over 16-bit blocks (gradients in the same format, multiplied by gradScale after widening):
 * float32, but the first moment rounded as the float64 lerp rounds (see `unsureLanes`).
 */
function momentsHalf<T>(table: usize, blocks: usize, partials: usize, from: i32, to: i32): void {
  for (let b = from; b < to; b++) {
    const entry = blocks + <usize>b * BLOCK_BYTES;
    const d = descriptorOf(table, blocks, b);
    const start = load<u32>(entry + B_START);
    const n = <i32>load<u32>(entry + B_COUNT);
    const sum =
      load<f32>(d + D_GRAD_SCALE) === 1 ? momentsRangeHalf<T, Unscaled>(d, start, n) : momentsRangeHalf<T, Scaled>(d, start, n);
    store<f64>(partials + ((<usize>b) << 3), sum);
    if (fuse(d, sum)) updateRangeHalf<T>(d, start, n);
  }
}

/**
 * Phase 1 of one 16-bit block, returning its Σ g²/max(v, ε²). The first moment is computed in
 * float32 and, for the rare vectors with an unsure lane, again in float64 (`lerpF64`).
 */
function momentsRangeHalf<T, S>(d: usize, start: u32, n: i32): f64 {
  const scaled = isScaled<S>();
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
  const w1v = f32x4.splat(load<f32>(d + D_W1));
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
    let gLo = widenLow<T>(g8);
    let gHi = widenHigh<T>(g8);
    if (scaled) {
      gLo = f32x4.mul(gLo, scalev);
      gHi = f32x4.mul(gHi, scalev);
    }
    const mLo = widenLow<T>(m8);
    const mHi = widenHigh<T>(m8);
    const ggLo = f32x4.mul(gLo, gLo);
    const ggHi = f32x4.mul(gHi, gHi);
    // No fused multiply-add here: the 16-bit kernels round as the typed-array kernels do.
    const vLo = f32x4.add(f32x4.mul(beta2v, widenLow<T>(v8)), f32x4.mul(w2v, ggLo));
    const vHi = f32x4.add(f32x4.mul(beta2v, widenHigh<T>(v8)), f32x4.mul(w2v, ggHi));
    const tLo = f32x4.mul(w1v, f32x4.sub(gLo, mLo));
    const tHi = f32x4.mul(w1v, f32x4.sub(gHi, mHi));
    let rLo = f32x4.add(mLo, tLo);
    let rHi = f32x4.add(mHi, tHi);
    if (v128.any_true(v128.or(unsureLanes<T>(rLo, tLo), unsureLanes<T>(rHi, tHi)))) {
      rLo = lerpF64(mLo, gLo, w1d);
      rHi = lerpF64(mHi, gHi, w1d);
    }
    v128.store(mp + at, narrow8<T>(rLo, rHi));
    v128.store(vp + at, narrow8<T>(vLo, vHi));
    const qLo = ratio(ggLo, vLo, epsSqv);
    const qHi = ratio(ggHi, vHi, epsSqv);
    acc0 = f64x2.add(acc0, f64x2.promote_low_f32x4(qLo));
    acc1 = f64x2.add(acc1, f64x2.promote_low_f32x4(highHalf(qLo)));
    acc2 = f64x2.add(acc2, f64x2.promote_low_f32x4(qHi));
    acc3 = f64x2.add(acc3, f64x2.promote_low_f32x4(highHalf(qHi)));
  }
  acc0 = f64x2.add(f64x2.add(acc0, acc1), f64x2.add(acc2, acc3));
  let sum = f64x2.extract_lane(acc0, 0) + f64x2.extract_lane(acc0, 1);
  for (; i < n; i++) {
    const at = (<usize>i) << 1;
    const g = scaled ? widen1<T>(load<u16>(gp + at)) * gradScale : widen1<T>(load<u16>(gp + at));
    const m = widen1<T>(load<u16>(mp + at));
    const gg = g * g;
    const v = beta2 * widen1<T>(load<u16>(vp + at)) + w2 * gg;
    store<u16>(mp + at, narrow1<T>(narrowOdd1(<f64>m + w1 * (<f64>g - <f64>m))));
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

function updateRangeHalf<T>(d: usize, start: u32, n: i32): void {
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
    const decayed = narrow8<T>(
      f32x4.mul(widenLow<T>(v128.load(pp + at)), decayv),
      f32x4.mul(widenHigh<T>(v128.load(pp + at)), decayv),
    );
    const pLo = widenLow<T>(decayed);
    const pHi = widenHigh<T>(decayed);
    const m8 = v128.load(mp + at);
    const v8 = v128.load(vp + at);
    let uLo = f32x4.div(f32x4.mul(negEtav, widenLow<T>(m8)), f32x4.add(f32x4.sqrt(widenLow<T>(v8)), epsv));
    let uHi = f32x4.div(f32x4.mul(negEtav, widenHigh<T>(m8)), f32x4.add(f32x4.sqrt(widenHigh<T>(v8)), epsv));
    if (kahan) {
      const k8 = v128.load(kp + at);
      uLo = f32x4.add(widenLow<T>(k8), uLo);
      uHi = f32x4.add(widenHigh<T>(k8), uHi);
      const updated = narrow8<T>(f32x4.add(pLo, uLo), f32x4.add(pHi, uHi));
      v128.store(pp + at, updated);
      const cLo = f32x4.add(uLo, f32x4.sub(pLo, widenLow<T>(updated)));
      const cHi = f32x4.add(uHi, f32x4.sub(pHi, widenHigh<T>(updated)));
      v128.store(kp + at, narrow8<T>(cLo, cHi));
    } else {
      v128.store(pp + at, narrow8<T>(f32x4.add(pLo, uLo), f32x4.add(pHi, uHi)));
    }
  }
  for (; i < n; i++) {
    const at = (<usize>i) << 1;
    const p = widen1<T>(narrow1<T>(widen1<T>(load<u16>(pp + at)) * decay));
    let u = (negEta * widen1<T>(load<u16>(mp + at))) / (sqrt<f32>(widen1<T>(load<u16>(vp + at))) + eps);
    if (kahan) {
      u += widen1<T>(load<u16>(kp + at));
      const updated = narrow1<T>(p + u);
      store<u16>(pp + at, updated);
      store<u16>(kp + at, narrow1<T>(u + (p - widen1<T>(updated))));
    } else {
      store<u16>(pp + at, narrow1<T>(p + u));
    }
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
