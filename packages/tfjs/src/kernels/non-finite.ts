import { UnsupportedBackendError } from '@stable-adamw/core';
import * as tf from '@tensorflow/tfjs-core';

/**
 * The indices of `grads` holding NaN or ±Inf, for `nonFinite: 'skip' | 'throw'` where the device
 * does not decide (`device-skip-backends.ts`: 'throw', the composed kernels, gradient release,
 * WebGL1, wasm, cpu). One on-device reduction per gradient (`all(isFinite(g))`), stacked into one
 * flag vector, and ONE synchronous readback of it per step: the step's kernels must not be
 * recorded before the answer is known, and `minimize`/`model.fit` are synchronous. Nothing is
 * mutated.
 *
 * @throws UnsupportedBackendError on webgpu, before anything runs: WebGPU has no synchronous
 *   readback (tfjs-webgpu's `dataSync` goes through a canvas copy, which returns zeros and loses
 *   the device in headless Chromium, SwiftShader), so every gradient would look non-finite. The
 *   fused multi-tensor step decides 'skip' on the device instead (`webgpu-device-skip.ts`); what
 *   reaches this is 'throw' (it needs the answer before `applyGradients` returns), and 'skip' on
 *   the composed kernels or under gradient release (`stepParam`).
 */
export function findNonFiniteGradients(grads: readonly tf.Tensor[]): number[] {
  if (tf.getBackend() === 'webgpu') {
    throw new UnsupportedBackendError(
      "tfjs-webgpu has no synchronous readback, which nonFinite: 'throw' needs before each step, and so does 'skip' " +
        "(with or without a lossScaler) outside the fused multi-tensor step: with kernel: 'composed' or under gradient release (stepParam)",
      "Use nonFinite: 'skip' with kernel: 'auto' or 'fused' and whole steps (applyGradients, minimize, model.fit), " +
        "or 'propagate', or the webgl, wasm or cpu backend.",
    );
  }
  if (grads.length === 0) return [];
  const flags = tf.tidy(() => tf.stack(grads.map((g) => tf.all(tf.isFinite(g)))));
  const finite = flags.dataSync();
  flags.dispose();
  return grads.flatMap((_, i) => (finite[i] ? [] : [i]));
}
