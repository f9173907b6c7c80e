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
 * (whole steps and gradient release's `stepParam`) and tfjs-webgl's programs on WebGL2 (whole
 * steps without gradient release). Everything else (composed kernels, WebGL1, 'throw', and on
 * webgl both kinds of call under gradient release) asks core's `findNonFinite`, a synchronous
 * readback. Under gradient release a whole step counts where `stepParam` does, so a `stepParam`
 * skipped on the host reaches the next `step()` (as an overflow of the loss scaler) and no call
 * that counts on the host waits for the device's read-back.
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
  gradientRelease: boolean,
): StableAdamWBackendV1<tf.Variable, tf.Tensor, TfjsState, R> {
  return {
    ...backend,
    get backendId() {
      return backend.backendId;
    },
    skipsOnDevice: () => skipsOnDevice(choice, gradientRelease),
    stepTensorsOnDevice: (items: readonly Step[]) => skip.step(items),
    skipsParamOnDevice: () => skipsParamOnDevice(choice),
    stepParamOnDevice: (item: Step) => skip.stepParam(item),
  };
}

/** Whether gradient release's `stepParam` with `kernel: choice` decides 'skip' on the device: tfjs-webgpu's fused path. */
export function skipsParamOnDevice(choice: KernelChoice): boolean {
  return activeWebGPU() !== undefined && resolveKernel(choice).path === 'webgpu-multi-tensor';
}

/** Whether a whole step with `kernel: choice` decides 'skip' on the device (see the file comment). */
export function skipsOnDevice(choice: KernelChoice, gradientRelease: boolean): boolean {
  if (activeWebGPU() !== undefined) return resolveKernel(choice).path === 'webgpu-multi-tensor';
  return !gradientRelease && webglKeepsCounters() && resolveKernel(choice).path === 'webgl-fused';
}
