// tfjs-wasm's two StableAdamW phases as WebAssembly SIMD loops (AssemblyScript), run in place on
// tfjs-wasm's own heap: the module imports the backend's memory, so pointers are the byte offsets
// of its tensors. Built by scripts/build-wasm.mjs; it must hold no data segment, which would be
// written into that memory at instantiation (the build checks).

/** The float64 lanes of the low and high halves of four float32 lanes. */
function low(x: v128): v128 {
  return f64x2.promote_low_f32x4(x);
}
function high(x: v128): v128 {
  return f64x2.promote_low_f32x4(v128.shuffle<f32>(x, x, 2, 3, 0, 1));
}

/** g²/max(v′, ε²) in float64 on two lanes; a NaN v′ floors to ε² (as the host loop does). */
function ratio(g: v128, v: v128, epsSq: v128): v128 {
  return f64x2.div(f64x2.mul(g, g), v128.bitselect(v, epsSq, f64x2.gt(v, epsSq)));
}

/**
 * Phase 1 over `n` elements: m ← m + w1·(g·s − m), v ← β̂2·v + w2·(g·s)², each operation rounded to
 * float32 (as torch's float32 ops round). With `reduce`, returns Σ (g·s)²/max(v′, ε²) in float64.
 */
export function moments(
  g: usize,
  m: usize,
  v: usize,
  n: i32,
  w1: f32,
  beta2: f32,
  w2: f32,
  gradScale: f32,
  epsSq: f64,
  reduce: bool,
): f64 {
  const w1x = f32x4.splat(w1);
  const beta2x = f32x4.splat(beta2);
  const w2x = f32x4.splat(w2);
  const scale = f32x4.splat(gradScale);
  const floor = f64x2.splat(epsSq);
  let lowSum = f64x2.splat(0);
  let highSum = f64x2.splat(0);
  const vectorEnd = n & ~3;
  for (let i = 0; i < vectorEnd; i += 4) {
    const at = (<usize>i) << 2;
    const gi = f32x4.mul(v128.load(g + at), scale);
    const mi = v128.load(m + at);
    const vi = f32x4.add(f32x4.mul(beta2x, v128.load(v + at)), f32x4.mul(w2x, f32x4.mul(gi, gi)));
    v128.store(m + at, f32x4.add(mi, f32x4.mul(w1x, f32x4.sub(gi, mi))));
    v128.store(v + at, vi);
    if (reduce) {
      lowSum = f64x2.add(lowSum, ratio(low(gi), low(vi), floor));
      highSum = f64x2.add(highSum, ratio(high(gi), high(vi), floor));
    }
  }
  const lanes = f64x2.add(lowSum, highSum);
  let sum = f64x2.extract_lane(lanes, 0) + f64x2.extract_lane(lanes, 1);
  for (let i = vectorEnd; i < n; i++) {
    const at = (<usize>i) << 2;
    const gi = load<f32>(g + at) * gradScale;
    const mi = load<f32>(m + at);
    const vi = beta2 * load<f32>(v + at) + w2 * (gi * gi);
    store<f32>(m + at, mi + w1 * (gi - mi));
    store<f32>(v + at, vi);
    const g64 = <f64>gi;
    const v64 = <f64>vi;
    // A NaN v′ floors to ε² (Math.max would give NaN).
    if (reduce) sum += (g64 * g64) / (v64 > epsSq ? v64 : epsSq);
  }
  return sum;
}

/**
 * Phase 2 over `n` elements into `out`: θ·decay − (η·m)/(√v + ε), each operation rounded to
 * float32 (as the composed kernel's ops and torch's per-op paths round).
 */
export function update(p: usize, m: usize, v: usize, out: usize, n: i32, decay: f32, lr: f32, eps: f32): void {
  const decayx = f32x4.splat(decay);
  const lrx = f32x4.splat(lr);
  const epsx = f32x4.splat(eps);
  const vectorEnd = n & ~3;
  for (let i = 0; i < vectorEnd; i += 4) {
    const at = (<usize>i) << 2;
    const step = f32x4.div(f32x4.mul(v128.load(m + at), lrx), f32x4.add(f32x4.sqrt(v128.load(v + at)), epsx));
    v128.store(out + at, f32x4.sub(f32x4.mul(v128.load(p + at), decayx), step));
  }
  for (let i = vectorEnd; i < n; i++) {
    const at = (<usize>i) << 2;
    const step = (load<f32>(m + at) * lr) / (Mathf.sqrt(load<f32>(v + at)) + eps);
    store<f32>(out + at, load<f32>(p + at) * decay - step);
  }
}
