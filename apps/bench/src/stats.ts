/** Summary of timed steps. */
export interface TimingSummary {
  /** Milliseconds per step: median, quartiles (linear interpolation), extremes. */
  medianMs: number;
  q1Ms: number;
  q3Ms: number;
  minMs: number;
  maxMs: number;
  steps: number;
}

function quantile(sorted: readonly number[], q: number): number {
  const at = (sorted.length - 1) * q;
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  return (sorted[lo] as number) + ((sorted[hi] as number) - (sorted[lo] as number)) * (at - lo);
}

/** Median, quartiles and range of step times in ms; throws on an empty list. */
export function summarize(times: readonly number[]): TimingSummary {
  if (times.length === 0) throw new Error('no timed steps');
  const sorted = [...times].sort((a, b) => a - b);
  return {
    medianMs: quantile(sorted, 0.5),
    q1Ms: quantile(sorted, 0.25),
    q3Ms: quantile(sorted, 0.75),
    minMs: sorted[0] as number,
    maxMs: sorted.at(-1) as number,
    steps: sorted.length,
  };
}
