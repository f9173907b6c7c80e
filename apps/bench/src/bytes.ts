/**
 * Bytes an optimizer step must move per parameter: every array it has to read or write once, at
 * its storage width, assuming perfect fusion (each pass streams its arrays exactly once). This is
 * the floor for any implementation; composed-op ones move more, which is what the fraction of the
 * bound shows.
 */

export type Algorithm = 'stable-adamw' | 'adam' | 'adamw';
export type BenchDtype = 'float32' | 'bfloat16' | 'float16';

export const BENCH_DTYPES: readonly BenchDtype[] = ['float32', 'bfloat16', 'float16'];

export const DTYPE_BYTES: Record<BenchDtype, number> = { float32: 4, bfloat16: 2, float16: 2 };

export interface TrafficOptions {
  /** Kahan compensation buffer (StableAdamW on 16-bit params; on by default there, as in optimi). */
  kahan?: boolean;
  /** Gradient storage; defaults to the param dtype (optimi's case). */
  gradDtype?: BenchDtype;
}

/** Arrays read and written per step, as [name, reads, writes] per pass. */
export function passes(algorithm: Algorithm, kahan: boolean): { reads: string[]; writes: string[] }[] {
  if (algorithm === 'adam' || algorithm === 'adamw') {
    // One fused pass: θ ← θ − lr·m̂/(√v̂ + ε) needs g, m, v and θ once each (AdamW folds its decay of θ into it).
    return [{ reads: ['g', 'm', 'v', 'p'], writes: ['m', 'v', 'p'] }];
  }
  // StableAdamW needs the tensor's RMS of g²/v′ before it can update θ: two passes.
  return [
    { reads: ['g', 'm', 'v'], writes: ['m', 'v'] },
    { reads: ['p', 'm', 'v', ...(kahan ? ['k'] : [])], writes: ['p', ...(kahan ? ['k'] : [])] },
  ];
}

/** Minimum bytes per parameter per step (see {@link passes}); state and params share `dtype`. */
export function bytesPerParam(algorithm: Algorithm, dtype: BenchDtype, options: TrafficOptions = {}): number {
  const kahan = (options.kahan ?? dtype !== 'float32') && dtype !== 'float32';
  const width = (name: string) => (name === 'g' ? DTYPE_BYTES[options.gradDtype ?? dtype] : DTYPE_BYTES[dtype]);
  return passes(algorithm, kahan)
    .flatMap((p) => [...p.reads, ...p.writes])
    .reduce((n, name) => n + width(name), 0);
}
