// STREAM-style bandwidth kernels (copy, triad, and an in-place axpy) over float32 arrays in linear
// memory (byte offsets), 4 lanes per v128. Lengths are multiples of 4; callers split work between threads by offset.

/** dst[i] = src[i] for n floats. */
export function copy(dst: usize, src: usize, n: i32): void {
  const end = src + ((<usize>n) << 2);
  while (src < end) {
    v128.store(dst, v128.load(src));
    src += 16;
    dst += 16;
  }
}

/** a[i] = b[i] + s · c[i] for n floats. */
export function triad(a: usize, b: usize, c: usize, s: f32, n: i32): void {
  const scale = f32x4.splat(s);
  const end = b + ((<usize>n) << 2);
  while (b < end) {
    v128.store(a, f32x4.add(v128.load(b), f32x4.mul(scale, v128.load(c))));
    a += 16;
    b += 16;
    c += 16;
  }
}

/** a[i] = a[i] + s · b[i] for n floats, in place: every written line was just read (no write-allocate traffic). */
export function axpy(a: usize, b: usize, s: f32, n: i32): void {
  const scale = f32x4.splat(s);
  const end = a + ((<usize>n) << 2);
  while (a < end) {
    v128.store(a, f32x4.add(v128.load(a), f32x4.mul(scale, v128.load(b))));
    a += 16;
    b += 16;
  }
}
