import type { ExpectedValues, Field, ObservedValues, ScenarioTolerances, Tolerance } from '@stable-adamw/conformance';
import type { Dtype } from '@stable-adamw/core';
import { ulpOf } from '@stable-adamw/core/adapter';

const FIELDS: readonly Field[] = ['params', 'expAvg', 'expAvgSq'];

/**
 * The largest error of `actual` against `expected` as a fraction of its tolerance: the max over
 * elements of |a − e| ÷ bound(e), where bound(e) = atol + rtol·|e| for an elementwise tolerance and
 * max(ulps·ulp(e), atol) for an ulp tolerance (ulp taken in `dtype`) — the bounds the verdict uses.
 * Equal values (NaN with NaN included) are 0; a NaN against a number, a length mismatch, or a
 * difference against a zero bound is Infinity. ≤ 1 means every element is within tolerance.
 */
export function errorOverLimit(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tolerance: Tolerance,
  dtype: Dtype,
): number {
  if (actual.length !== expected.length) return Number.POSITIVE_INFINITY;
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i] as number;
    const e = expected[i] as number;
    if (a === e || (Number.isNaN(a) && Number.isNaN(e))) continue;
    const bound =
      tolerance.kind === 'elementwise'
        ? tolerance.atol + tolerance.rtol * Math.abs(e)
        : Math.max(tolerance.ulps * ulpOf(e, dtype), tolerance.atol);
    const ratio = Math.abs(a - e) / bound;
    worst = Math.max(worst, Number.isNaN(ratio) ? Number.POSITIVE_INFINITY : ratio);
  }
  return worst;
}

/**
 * `errorOverLimit` over every compared quantity of one step (params, exp_avg, exp_avg_sq, each
 * with its own tolerance; quantities without expectations are not compared). State present on one
 * side only is Infinity.
 */
export function observedOverLimit(
  actual: ObservedValues,
  expected: ExpectedValues | ObservedValues,
  tolerances: ScenarioTolerances,
  dtype: Dtype,
): number {
  let worst = 0;
  for (const field of FIELDS) {
    expected[field]?.forEach((e, i) => {
      const a = actual[field][i] ?? null;
      if (e === null || a === null) worst = Math.max(worst, e === a ? 0 : Number.POSITIVE_INFINITY);
      else worst = Math.max(worst, errorOverLimit(a, e, tolerances[field], dtype));
    });
  }
  return worst;
}
