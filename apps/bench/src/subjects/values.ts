/** Deterministic pseudo-random values in [−scale, scale) (a 32-bit LCG): same data on every backend. */
export function seededValues(n: number, seed: number, scale: number): Float32Array {
  const out = new Float32Array(n);
  let state = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out[i] = (state / 2 ** 31 - 1) * scale;
  }
  return out;
}
