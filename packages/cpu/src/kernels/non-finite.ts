import type { Dtype } from '@stable-adamw/core';
import type { CpuGradient } from '../param.js';

/** Exponent bits of the 16-bit formats: all set means ±Inf or NaN. */
const EXPONENT_MASK = { bfloat16: 0x7f80, float16: 0x7c00 } as const;

/**
 * Whether a gradient holds NaN or ±Inf: one read-only pass that stops at the first one. Float
 * arrays test x − x (NaN exactly for non-finite x); 16-bit bit patterns test the exponent bits.
 * `dtype` is the param's dtype (a `Uint16Array` gradient holds bits of it).
 */
export function hasNonFinite(grad: CpuGradient, dtype: Dtype): boolean {
  const n = grad.length;
  if (grad instanceof Uint16Array) {
    const mask = EXPONENT_MASK[dtype as keyof typeof EXPONENT_MASK];
    for (let i = 0; i < n; i++) if (((grad[i] as number) & mask) === mask) return true;
    return false;
  }
  for (let i = 0; i < n; i++) {
    const x = grad[i] as number;
    if (x - x !== 0) return true;
  }
  return false;
}
