/**
 * The scalar side of a StableAdamW step, computed in float64 as optimi does in Python.
 * Kernels receive these values; device kernels recompute `clippedLearningRate` on the device.
 */

/**
 * optimi's debiased beta: β̂(t) = (β^t − β) / (β^t − 1). An EMA with β̂ reproduces Adam's
 * bias-corrected moments, so the state holds m̂ and v̂ directly. β̂(1) = 0.
 */
export function debiasBeta(beta: number, step: number): number {
  const betaPowT = beta ** step;
  return (betaPowT - beta) / (betaPowT - 1);
}

/** RMS of g²/max(v, ε²) over a tensor from its summed squares. */
export function rmsFromSum(sumSquares: number, numel: number): number {
  return Math.sqrt(sumSquares / numel);
}

/**
 * η = lr / max(1, RMS), with Python's `max(1, NaN) = 1`: a NaN RMS means no clipping
 * (JS `Math.max` would return NaN), and an infinite RMS gives η = 0.
 */
export function clippedLearningRate(lr: number, rms: number): number {
  // biome-ignore lint/complexity/useMathMinMax: Math.max(rms, 1) is NaN for a NaN RMS; optimi does not clip then.
  return lr / (rms > 1 ? rms : 1);
}

/**
 * The weight decay coefficient per unit of learning rate: θ ← θ·(1 − η·decayPerLr).
 * It is λ for decoupled decay and λ / maxLr for fully decoupled decay.
 */
export function weightDecayPerLr(weightDecay: number, decoupleLr: boolean, maxLr: number | undefined): number {
  return decoupleLr ? weightDecay / (maxLr as number) : weightDecay;
}
