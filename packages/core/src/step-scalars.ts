/**
 * The scalar side of a StableAdamW step, computed in float64 as optimi does in Python.
 * Kernels receive these values; device kernels recompute `clippedLearningRate` on the device.
 */
import type { MomentScalars } from './contract.js';
import type { Dtype } from './dtype.js';

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

/**
 * Phase-1 scalars of step `t` for a tensor of `dtype`: debiased betas and the ε² floor of v, which
 * is float64 for float64 params and rounded to fp32 otherwise (optimi's fp16 ε² would underflow),
 * and the factor `gradScale` applied to the gradient (1 / loss scale; default 1).
 */
export function momentScalars(
  betas: readonly [number, number],
  eps: number,
  t: number,
  dtype: Dtype,
  reduce: boolean,
  gradScale = 1,
): MomentScalars {
  const epsSq = dtype === 'float64' ? eps * eps : Math.fround(eps * eps);
  return { beta1Hat: debiasBeta(betas[0], t), beta2Hat: debiasBeta(betas[1], t), epsSq, reduce, gradScale };
}
