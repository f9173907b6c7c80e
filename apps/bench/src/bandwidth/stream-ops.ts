/**
 * STREAM copy and triad, and an in-place axpy, over one slice of three float32 arrays in a WebAssembly memory, in plain
 * JS loops and through the SIMD module. Self-contained (no imports, no outer references): worker
 * threads get this very function as source text, so both sides run the same loops.
 */
export function streamOps(
  memory: WebAssembly.Memory,
  module: WebAssembly.Module,
  offsets: { a: number; b: number; c: number },
  start: number,
  count: number,
): Record<'js-copy' | 'js-triad' | 'js-axpy' | 'wasm-copy' | 'wasm-triad' | 'wasm-axpy', () => void> {
  const exports = new WebAssembly.Instance(module, { env: { memory } }).exports as {
    copy(dst: number, src: number, n: number): void;
    triad(a: number, b: number, c: number, s: number, n: number): void;
    axpy(a: number, b: number, s: number, n: number): void;
  };
  const at = (offset: number) => offset + start * 4;
  const view = (offset: number) => new Float32Array(memory.buffer, at(offset), count);
  const a = view(offsets.a);
  const b = view(offsets.b);
  const c = view(offsets.c);
  return {
    'js-copy': () => {
      for (let i = 0; i < count; i++) a[i] = b[i] as number;
    },
    'js-triad': () => {
      for (let i = 0; i < count; i++) a[i] = (b[i] as number) + 3 * (c[i] as number);
    },
    'js-axpy': () => {
      for (let i = 0; i < count; i++) a[i] = (a[i] as number) + 1e-3 * (b[i] as number);
    },
    'wasm-copy': () => exports.copy(at(offsets.a), at(offsets.b), count),
    'wasm-triad': () => exports.triad(at(offsets.a), at(offsets.b), at(offsets.c), 3, count),
    'wasm-axpy': () => exports.axpy(at(offsets.a), at(offsets.b), 1e-3, count),
  };
}
