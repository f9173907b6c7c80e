/**
 * `n` reproducible float32 values in [−scale/2, scale/2) from `seed` (a 31-bit linear congruential
 * generator): the same inputs on every backend and run, for tests that compare backends.
 */
export function seededValues(n: number, seed: number, scale: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return (s / 2 ** 31 - 0.5) * scale;
  });
}
