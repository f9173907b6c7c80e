/**
 * Kernel bodies, transpiled by gpu.js to GLSL, WGSL, WebAssembly or JavaScript. They must stay
 * within the JavaScript subset gpu.js parses: no closures over module values, only `this.thread`,
 * `this.constants` and the arguments. Every kernel has a 1-D output; index i is `this.thread.x`.
 */
import type { IKernelFunctionThis } from 'gpu.js';

type Kernel<C = Record<string, number>> = IKernelFunctionThis<C>;
type Reduce = Kernel<{ n: number; block: number }>;

/** Copies host values onto the device (initial params, host gradients, fresh or loaded state). */
export function copyKernel(this: Kernel, a: number[]): number {
  return a[this.thread.x] as number;
}

/** m ← m + (1−β̂1)(g − m), torch's lerp. */
export function expAvgKernel(this: Kernel, g: number[], m: number[], beta1c: number): number {
  const mi = m[this.thread.x] as number;
  return mi + beta1c * ((g[this.thread.x] as number) - mi);
}

/** v ← β̂2·v + (1−β̂2)·g². */
export function expAvgSqKernel(this: Kernel, g: number[], v: number[], beta2Hat: number, beta2c: number): number {
  const gi = g[this.thread.x] as number;
  return (v[this.thread.x] as number) * beta2Hat + beta2c * (gi * gi);
}

/** Kernel-map output of the new m (identity: calling it records the value). */
export function newExpAvg(value: number): number {
  return value;
}

/** Both moments in one launch where kernel maps exist: returns v, writes m through `newExpAvg`. */
export function momentsMapKernel(
  this: Kernel,
  g: number[],
  m: number[],
  v: number[],
  beta1c: number,
  beta2Hat: number,
  beta2c: number,
): number {
  const gi = g[this.thread.x] as number;
  const mi = m[this.thread.x] as number;
  newExpAvg(mi + beta1c * (gi - mi));
  return (v[this.thread.x] as number) * beta2Hat + beta2c * (gi * gi);
}

/** First tree level of the RMS: block sums of g²/max(v, ε²) over `block` consecutive elements. */
export function sumSquaresKernel(this: Reduce, g: number[], v: number[], epsSq: number): number {
  let sum = 0;
  for (let i = 0; i < this.constants.block; i++) {
    const j = this.thread.x * this.constants.block + i;
    if (j < this.constants.n) {
      const gj = g[j] as number;
      sum += (gj * gj) / Math.max(v[j] as number, epsSq);
    }
  }
  return sum;
}

/** Later tree levels: block sums of the previous level's partial sums. */
export function blockSumKernel(this: Reduce, partial: number[]): number {
  let sum = 0;
  for (let i = 0; i < this.constants.block; i++) {
    const j = this.thread.x * this.constants.block + i;
    if (j < this.constants.n) {
      sum += partial[j] as number;
    }
  }
  return sum;
}

/**
 * The update, with the RMS clip computed on the device from the reduced sum:
 * η = lr / max(1, RMS) (a NaN RMS does not clip, like optimi); θ ← θ·(1 − η·decayPerLr) − η·m/(√v + ε).
 */
export function updateKernel(
  this: Kernel,
  p: number[],
  m: number[],
  v: number[],
  sumSquares: number[],
  lr: number,
  numel: number,
  eps: number,
  decayPerLr: number,
): number {
  const rms = Math.sqrt((sumSquares[0] as number) / numel);
  let clip = 1;
  if (rms > 1) {
    clip = rms;
  }
  const eta = lr / clip;
  const i = this.thread.x;
  return (p[i] as number) * (1 - eta * decayPerLr) - (eta * (m[i] as number)) / (Math.sqrt(v[i] as number) + eps);
}
