import type { DynamicLossScaler } from '@stable-adamw/core';
import type { StableAdamWBackendV1 } from '@stable-adamw/core/adapter';
import * as tf from '@tensorflow/tfjs-core';
import type { TfjsState } from '../state.js';
import { type CounterHost, DeviceSkip, type Step } from './device-skip.js';
import { type KernelChoice, resolveKernel } from './resolve-kernel.js';
import { WebGLCounters, webglKeepsCounters } from './webgl-device-skip.js';
import { WebGPUCounters } from './webgpu-device-skip.js';
import { activeWebGPU, type WebGPUBackendLike } from './webgpu-multi-tensor.js';

/**
 * Which fused paths decide `nonFinite: 'skip'` on the device: tfjs-webgpu's multi-tensor step
 * and tfjs-webgl's programs on WebGL2, whole steps and gradient release's `stepParam` alike.
 * Everything else (composed kernels, WebGL1, 'throw') asks core's `findNonFinite`, a synchronous
 * readback. A whole step and a `stepParam` always count in the same place, so a skipped
 * `stepParam` reaches the next `step()` (as an overflow of the loss scaler).
 */

/** The device counters of one optimizer, on whichever of webgpu and webgl is active at each step. */
export function createDeviceSkip(host: () => CounterHost | undefined, scaler: DynamicLossScaler | undefined): DeviceSkip {
  const webgpu = new WebGPUCounters(scaler !== undefined);
  const webgl = new WebGLCounters();
  return new DeviceSkip(host, scaler, {
    active: () => (tf.getBackend() === 'webgpu' ? webgpu.attach(activeWebGPU() as WebGPUBackendLike) : webgl.attach()),
    all: [webgpu, webgl],
  });
}

/**
 * `backend` with the device's 'skip' decision where the step runs on a fused path that keeps the
 * counters (`skipsOnDevice`, `stepTensorsOnDevice`); everything else as `backend` does.
 */
export function withDeviceSkip<R>(
  backend: StableAdamWBackendV1<tf.Variable, tf.Tensor, TfjsState, R>,
  skip: DeviceSkip,
  choice: KernelChoice,
): StableAdamWBackendV1<tf.Variable, tf.Tensor, TfjsState, R> {
  return {
    ...backend,
    get backendId() {
      return backend.backendId;
    },
    skipsOnDevice: () => skipsOnDevice(choice),
    stepTensorsOnDevice: (items: readonly Step[]) => skip.step(items),
    skipsParamOnDevice: () => skipsOnDevice(choice),
    stepParamOnDevice: (item: Step) => skip.stepParam(item),
  };
}

/**
 * Whether a whole step or a `stepParam` with `kernel: choice` decides 'skip' on the device (see
 * the file comment).
 */
export function skipsOnDevice(choice: KernelChoice): boolean {
  if (activeWebGPU() !== undefined) return resolveKernel(choice).path === 'webgpu-multi-tensor';
  return webglKeepsCounters() && resolveKernel(choice).path === 'webgl-fused';
}
