import { compareValues } from '@stable-adamw/conformance';
import type { Dtype } from '@stable-adamw/core';

/** How closely two backends agree on a scenario's final parameters. */
export interface Agreement {
  scenario: string;
  a: string;
  b: string;
  maxAbsDiff: number;
  maxUlp: number;
}

export interface FinalParams {
  backend: string;
  scenario: string;
  dtype: Dtype;
  params: Float64Array[];
}

const NO_TOLERANCE = { kind: 'elementwise', atol: 0, rtol: 0 } as const;

/** Pairwise max abs difference and ULP distance between backends that ran the same scenario. */
export function pairwiseAgreement(finals: readonly FinalParams[]): Agreement[] {
  const out: Agreement[] = [];
  for (let i = 0; i < finals.length; i++) {
    for (let j = i + 1; j < finals.length; j++) {
      const x = finals[i] as FinalParams;
      const y = finals[j] as FinalParams;
      if (x.scenario !== y.scenario || x.params.length !== y.params.length) continue;
      let maxAbsDiff = 0;
      let maxUlp = 0;
      x.params.forEach((p, k) => {
        const m = compareValues(p, y.params[k] as Float64Array, NO_TOLERANCE, x.dtype);
        maxAbsDiff = Math.max(maxAbsDiff, m.maxAbsError);
        maxUlp = Math.max(maxUlp, m.maxUlp);
      });
      out.push({ scenario: x.scenario, a: x.backend, b: y.backend, maxAbsDiff, maxUlp });
    }
  }
  return out;
}
