import { type Dtype, numberToBfloat16, numberToFloat16 } from '@stable-adamw/core';
import { ulpOf } from '@stable-adamw/core/adapter';
import type { Tolerance } from './scenario.js';

/** Error metrics of an actual tensor against an expected one. */
export interface ErrorMetrics {
  maxAbsError: number;
  /** Max of |a − e| / |e| over elements with e ≠ 0. */
  maxRelError: number;
  /** Max distance in representable values of `dtype` (0 = bit-identical). */
  maxUlp: number;
  /** Elements outside the tolerance. */
  outside: number;
  count: number;
  /** Index of the worst element outside the tolerance (largest excess), or -1. */
  worst: number;
}

const f32 = new Float32Array(1);
const i32 = new Int32Array(f32.buffer);
const f64 = new Float64Array(1);
const i64 = new BigInt64Array(f64.buffer);

/** Maps a value's bit pattern onto a line where adjacent representable values differ by 1. */
function orderedBits(x: number, dtype: Dtype): number {
  switch (dtype) {
    case 'float64': {
      f64[0] = x;
      const bits = i64[0] as bigint;
      return Number(bits < 0n ? -(bits & 0x7fffffffffffffffn) : bits);
    }
    case 'float32': {
      f32[0] = x;
      const bits = i32[0] as number;
      return bits < 0 ? -(bits & 0x7fffffff) : bits;
    }
    case 'bfloat16':
    case 'float16': {
      const bits = dtype === 'bfloat16' ? numberToBfloat16(x) : numberToFloat16(x);
      return bits & 0x8000 ? -(bits & 0x7fff) : bits;
    }
  }
}

/** Distance between two values in units of representable `dtype` values (NaN vs NaN is 0). */
export function ulpDistance(a: number, b: number, dtype: Dtype): number {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b) ? 0 : Number.POSITIVE_INFINITY;
  return Math.abs(orderedBits(a, dtype) - orderedBits(b, dtype));
}

/** How far outside its bound an element is (≤ 0 inside). NaN matches NaN. */
function excess(a: number, e: number, tolerance: Tolerance, dtype: Dtype): number {
  if (Number.isNaN(e) || Number.isNaN(a)) return Number.isNaN(e) && Number.isNaN(a) ? 0 : Number.POSITIVE_INFINITY;
  if (a === e) return 0;
  const bound =
    tolerance.kind === 'elementwise'
      ? tolerance.atol + tolerance.rtol * Math.abs(e)
      : Math.max(tolerance.ulps * ulpOf(e, dtype), tolerance.atol);
  return Math.abs(a - e) - bound;
}

/** Compares element by element; `dtype` is the storage dtype of the actual values (for ULPs). */
export function compareValues(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tolerance: Tolerance,
  dtype: Dtype,
): ErrorMetrics {
  const metrics: ErrorMetrics = { maxAbsError: 0, maxRelError: 0, maxUlp: 0, outside: 0, count: expected.length, worst: -1 };
  if (actual.length !== expected.length) {
    return { ...metrics, maxAbsError: Number.POSITIVE_INFINITY, outside: expected.length };
  }
  let worstExcess = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i] as number;
    const e = expected[i] as number;
    const bothNaN = Number.isNaN(a) && Number.isNaN(e);
    const abs = bothNaN ? 0 : a === e ? 0 : Math.abs(a - e);
    metrics.maxAbsError = Math.max(metrics.maxAbsError, Number.isNaN(abs) ? Number.POSITIVE_INFINITY : abs);
    if (e !== 0 && !bothNaN) metrics.maxRelError = Math.max(metrics.maxRelError, abs / Math.abs(e));
    metrics.maxUlp = Math.max(metrics.maxUlp, ulpDistance(a, e, dtype));
    const over = excess(a, e, tolerance, dtype);
    if (over > 0) {
      metrics.outside++;
      if (over > worstExcess) {
        worstExcess = over;
        metrics.worst = i;
      }
    }
  }
  return metrics;
}

/** Whether metrics from `compareValues` are within the tolerance's allowance of outliers. */
export function withinTolerance(metrics: ErrorMetrics, tolerance: Tolerance): boolean {
  const allowed = tolerance.kind === 'elementwise' ? Math.floor((tolerance.maxFractionOutside ?? 0) * metrics.count) : 0;
  return metrics.outside <= allowed;
}

/** Folds metrics of several tensors into one. */
export function mergeMetrics(all: readonly ErrorMetrics[]): ErrorMetrics {
  return all.reduce(
    (acc, m) => ({
      maxAbsError: Math.max(acc.maxAbsError, m.maxAbsError),
      maxRelError: Math.max(acc.maxRelError, m.maxRelError),
      maxUlp: Math.max(acc.maxUlp, m.maxUlp),
      outside: acc.outside + m.outside,
      count: acc.count + m.count,
      worst: acc.worst,
    }),
    { maxAbsError: 0, maxRelError: 0, maxUlp: 0, outside: 0, count: 0, worst: -1 },
  );
}
