import type { BenchSubject, Stepper } from './subject.js';
import { seededValues } from './values.js';

/** optimi's defaults, with a learning rate that keeps params moving. */
export const HYPER = { lr: 1e-3, beta1: 0.9, beta2: 0.99, eps: 1e-6, weightDecay: 0.01 } as const;

interface Tensor {
  p: Float32Array;
  g: Float32Array;
  m: Float32Array;
  v: Float32Array;
}

/**
 * One StableAdamW step over Float32Arrays, written plainly: debiased betas, pass 1 updates the
 * moments and sums g²/max(v, ε²), pass 2 applies decay and the update with η = lr / max(1, RMS).
 */
export function scalarStableAdamWStep(tensors: readonly Tensor[], step: number): void {
  const { lr, beta1, beta2, eps, weightDecay } = HYPER;
  const b1 = (beta1 ** step - beta1) / (beta1 ** step - 1);
  const b2 = (beta2 ** step - beta2) / (beta2 ** step - 1);
  for (const { p, g, m, v } of tensors) {
    const n = p.length;
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const gi = g[i] as number;
      m[i] = b1 * (m[i] as number) + (1 - b1) * gi;
      const vi = b2 * (v[i] as number) + (1 - b2) * gi * gi;
      v[i] = vi;
      sum += (gi * gi) / Math.max(vi, eps * eps);
    }
    const rms = Math.sqrt(sum / n);
    const eta = lr / Math.max(1, rms);
    const decay = 1 - eta * weightDecay;
    for (let i = 0; i < n; i++) {
      p[i] = (p[i] as number) * decay - (eta * (m[i] as number)) / (Math.sqrt(v[i] as number) + eps);
    }
  }
}

/** The scalar two-pass loop every cpu ratio is against (float32 only). */
export const scalarJs: BenchSubject = {
  id: 'scalar-js',
  backend: 'js',
  implementation: 'scalar two-pass loop (reference)',
  algorithm: 'stable-adamw',
  threads: 1,
  dtypes: ['float32'],
  dtypeNote: 'the reference loop is float32 only',
  cpuShapes: true,
  async open(sizes) {
    const tensors = sizes.map((n, i) => ({
      p: seededValues(n, 2 * i + 1, 1),
      g: seededValues(n, 2 * i + 2, 1e-2),
      m: new Float32Array(n),
      v: new Float32Array(n),
    }));
    let step = 0;
    const stepper: Stepper = {
      step: () => scalarStableAdamWStep(tensors, ++step),
      memory: () => ({}),
      close: () => {
        tensors.length = 0;
        return {};
      },
    };
    return stepper;
  },
};
