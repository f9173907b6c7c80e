import { UnsupportedBackendError } from '@stable-adamw/core';
import * as tf from '@tensorflow/tfjs-core';

/**
 * The indices of `grads` holding NaN or ±Inf, for `nonFinite: 'skip' | 'throw'`. One on-device
 * reduction per gradient (`all(isFinite(g))`), stacked into one flag vector, and ONE synchronous
 * readback of it per step: the step's kernels must not be recorded before the answer is known,
 * and `minimize`/`model.fit` are synchronous. Nothing is mutated.
 *
 * @throws UnsupportedBackendError on webgpu, before anything runs: WebGPU has no synchronous
 *   readback; tfjs-webgpu's `dataSync` goes through a canvas copy, which returns zeros and loses
 *   the device in headless Chromium (SwiftShader), so every gradient would look non-finite.
 */
export function findNonFiniteGradients(grads: readonly tf.Tensor[]): number[] {
  if (tf.getBackend() === 'webgpu') {
    throw new UnsupportedBackendError(
      "tfjs-webgpu has no reliable synchronous readback, which nonFinite: 'skip' | 'throw' (and a lossScaler) need before each step",
      "Use nonFinite: 'propagate' without a lossScaler on webgpu, or the webgl, wasm or cpu backend.",
    );
  }
  if (grads.length === 0) return [];
  const flags = tf.tidy(() => tf.stack(grads.map((g) => tf.all(tf.isFinite(g)))));
  const finite = flags.dataSync();
  flags.dispose();
  return grads.flatMap((_, i) => (finite[i] ? [] : [i]));
}
