import type { ComposedState, MomentScalars, StableAdamWKernelV1, TensorOpsV1, UpdateScalars } from './contract.js';

/**
 * Both phases of the StableAdamW kernel written once over `TensorOpsV1`, so a new backend runs
 * before it has fused kernels (and keeps this path as the parity baseline after). The RMS and the
 * clipped learning rate stay tensors: nothing is read back to the host.
 */
export function createComposedKernel<T>(ops: TensorOpsV1<T>): StableAdamWKernelV1<T, T, ComposedState<T>, T> {
  return {
    updateMoments(_param: T, rawGrad: T, state: ComposedState<T>, s: MomentScalars): T {
      return ops.tidy(() => {
        // Phase 1: g ← g·gradScale (a loss scaler's unscale); m ← m + (1−β̂1)(g − m);
        // v ← β̂2·v + (1−β̂2)·g²; partial Σ g²/max(v, ε²).
        const grad = s.gradScale === 1 ? rawGrad : ops.mul(rawGrad, ops.scalar(s.gradScale));
        const gSq = ops.mul(grad, grad);
        const m = ops.add(state.expAvg, ops.mul(ops.scalar(1 - s.beta1Hat), ops.sub(grad, state.expAvg)));
        const v = ops.add(ops.mul(state.expAvgSq, ops.scalar(s.beta2Hat)), ops.mul(ops.scalar(1 - s.beta2Hat), gSq));
        ops.assign(state.expAvg, m);
        ops.assign(state.expAvgSq, v);
        return s.reduce ? ops.sum(ops.div(gSq, ops.maximum(v, ops.scalar(s.epsSq)))) : (undefined as T);
      });
    },

    applyUpdate(param: T, _grad: T, state: ComposedState<T>, sumSquares: T, s: UpdateScalars): void {
      ops.tidy(() => {
        // Phase 2: η = lr / max(1, RMS); θ ← θ·(1 − η·decayPerLr); θ ← θ − η·m/(√v + ε).
        const one = ops.scalar(1);
        const rms = ops.sqrt(ops.div(sumSquares, ops.scalar(s.numel)));
        const eta = ops.div(ops.scalar(s.lr), ops.selectGreater(rms, one));
        const decayed = ops.mul(param, ops.sub(one, ops.mul(eta, ops.scalar(s.weightDecayPerLr))));
        const step = ops.div(ops.mul(eta, state.expAvg), ops.add(ops.sqrt(state.expAvgSq), ops.scalar(s.eps)));
        if (s.kahan && state.kahanComp) {
          const k = ops.sub(state.kahanComp, step);
          const updated = ops.add(decayed, k);
          ops.assign(state.kahanComp, ops.add(k, ops.sub(decayed, updated)));
          ops.assign(param, updated);
        } else {
          ops.assign(param, ops.sub(decayed, step));
        }
        return undefined;
      });
      ops.dispose(sumSquares);
    },
  };
}
