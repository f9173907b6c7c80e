import { type Dtype, isHalfPrecision, roundToDtype } from './dtype.js';
import type { Hyperparameters } from './options.js';

/** State of one tensor in the reference optimizer (float64 values of the stored numbers). */
export interface ReferenceTensorState {
  expAvg: Float64Array;
  expAvgSq: Float64Array;
  kahanComp: Float64Array | null;
}

/** A param group of the reference: indices into its params plus resolved hyperparameters. */
export interface ReferenceGroup {
  params: readonly number[];
  hyperparameters: Hyperparameters;
}

/**
 * The float64 reference: optimi's StableAdamW written as plainly as possible, straight from the
 * spec, for testing adapters. All arithmetic is float64; values are rounded to the storage dtype
 * exactly where a stored tensor is written (moments; θ after weight decay; θ and the Kahan buffer
 * after the update). With `float64` storage it is the exact float64 algorithm.
 */
export class ReferenceStableAdamW {
  readonly params: Float64Array[];
  readonly state: (ReferenceTensorState | null)[];
  readonly groups: ReferenceGroup[];
  readonly groupSteps: number[];
  /** Each param's RMS at its last full step (null before one), for traces of the clipping statistic. */
  readonly lastRms: (number | null)[];
  /** Per-parameter step counters (gradient release). */
  readonly paramSteps: number[];
  readonly dtype: Dtype;

  constructor(init: readonly ArrayLike<number>[], groups: ReferenceGroup[], dtype: Dtype) {
    this.dtype = dtype;
    this.params = init.map((values) => Float64Array.from(values, (x) => roundToDtype(x, dtype)));
    this.state = init.map(() => null);
    this.groups = groups;
    this.groupSteps = groups.map(() => 0);
    this.paramSteps = init.map(() => 0);
    this.lastRms = init.map(() => null);
  }

  /**
   * Gradient release: steps param `i` alone with its own counter. With `accumulate`, only the
   * moments are updated (optimi's optimizer accumulation).
   */
  stepParam(i: number, grad: ArrayLike<number>, accumulate = false): void {
    const group = this.groups.find((g) => g.params.includes(i));
    if (!group) throw new Error(`param ${i} is in no group`);
    const t = (this.paramSteps[i] as number) + 1;
    this.paramSteps[i] = t;
    this.#stepTensor(i, grad, group.hyperparameters, t, accumulate);
  }

  /** One `step()`: `grads[i]` is param i's gradient, or null to skip it. */
  step(grads: readonly (ArrayLike<number> | null)[]): void {
    this.groups.forEach((group, g) => {
      const t = (this.groupSteps[g] as number) + 1;
      this.groupSteps[g] = t;
      for (const i of group.params) {
        const grad = grads[i];
        if (grad != null) this.#stepTensor(i, grad, group.hyperparameters, t, false);
      }
    });
  }

  #stepTensor(i: number, grad: ArrayLike<number>, h: Hyperparameters, t: number, accumulate: boolean): void {
    const dtype = this.dtype;
    const round = (x: number) => roundToDtype(x, dtype);
    const theta = this.params[i] as Float64Array;
    const n = theta.length;
    const half = isHalfPrecision(dtype);
    let s = this.state[i];
    if (!s) {
      s = {
        expAvg: new Float64Array(n),
        expAvgSq: new Float64Array(n),
        kahanComp: half && h.kahanSum !== false ? new Float64Array(n) : null,
      };
      this.state[i] = s;
    }
    const [beta1, beta2] = h.betas;
    const beta1Hat = (beta1 ** t - beta1) / (beta1 ** t - 1);
    const beta2Hat = (beta2 ** t - beta2) / (beta2 ** t - 1);
    const epsSq = dtype === 'float64' ? h.eps * h.eps : Math.fround(h.eps * h.eps);

    let sum = 0;
    for (let j = 0; j < n; j++) {
      const g = grad[j] as number;
      const m = s.expAvg[j] as number;
      const v = beta2Hat * (s.expAvgSq[j] as number) + (1 - beta2Hat) * g * g;
      s.expAvg[j] = round(m + (1 - beta1Hat) * (g - m));
      s.expAvgSq[j] = round(v);
      sum += (g * g) / Math.max(v, epsSq);
    }
    if (accumulate) return;
    const rms = Math.sqrt(sum / n);
    this.lastRms[i] = rms;
    const eta = rms > 1 ? h.lr / rms : h.lr;
    const decay = 1 - eta * (h.decoupleLr ? h.weightDecay / (h.maxLr as number) : h.weightDecay);
    const kahan = s.kahanComp !== null && h.kahanSum !== false;

    for (let j = 0; j < n; j++) {
      const decayed = round((theta[j] as number) * decay);
      const delta = (-eta * (s.expAvg[j] as number)) / (Math.sqrt(s.expAvgSq[j] as number) + h.eps);
      if (kahan && s.kahanComp) {
        const k = (s.kahanComp[j] as number) + delta;
        const updated = round(decayed + k);
        s.kahanComp[j] = round(k + (decayed - updated));
        theta[j] = updated;
      } else {
        theta[j] = round(decayed + delta);
      }
    }
  }
}
