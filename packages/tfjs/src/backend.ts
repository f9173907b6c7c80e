import { InvalidParamError } from '@stable-adamw/core';
import { andThen, type GradientProblem, type StableAdamWBackendV1, settle, type TensorInfo } from '@stable-adamw/core/adapter';
import * as tf from '@tensorflow/tfjs-core';
import { checkDeviceLimits } from './kernels/device-limits.js';
import { findNonFiniteGradients } from './kernels/non-finite.js';
import { KERNEL_CHOICES, type KernelChoice, resolveKernel, type TfjsKernel } from './kernels/resolve-kernel.js';
import { createTfjsState, disposeTfjsState, exportTfjsState, importTfjsState, type TfjsState } from './state.js';

/**
 * What phase 1 hands phase 2 of a single-tensor step (`stepParam`): the RMS partial sum and the
 * kernel that computed it, so each step resolves its kernel once.
 */
export interface TfjsPartialSum {
  readonly kernel: TfjsKernel;
  readonly sumSquares: tf.Scalar;
}

function isVariable(x: unknown): x is tf.Variable {
  return typeof x === 'object' && x !== null && typeof (x as tf.Variable).assign === 'function' && 'trainable' in x;
}

function isTensor(x: unknown): x is tf.Tensor {
  return (
    typeof x === 'object' && x !== null && typeof (x as tf.Tensor).dataId === 'object' && Array.isArray((x as tf.Tensor).shape)
  );
}

function describeVariable(param: tf.Variable, where: string): TensorInfo {
  if (!isVariable(param)) {
    throw new InvalidParamError(
      where,
      'is not a tf.Variable',
      'Pass the variables to train, e.g. model.getWeights() of trainable layers or tf.variable(...).',
    );
  }
  const label = `${where} (${param.name})`;
  if (param.dtype !== 'float32') {
    throw new InvalidParamError(
      label,
      `has dtype ${param.dtype}`,
      'TensorFlow.js has no 16-bit dtypes and StableAdamW updates float32 variables only: create the variable as float32.',
    );
  }
  if (param.isDisposed) {
    throw new InvalidParamError(label, 'is disposed', 'Keep every variable alive while its optimizer is in use.');
  }
  if (param.size === 0) throw new InvalidParamError(label, 'has no elements', 'Leave empty variables out of the optimizer.');
  checkDeviceLimits(param, label);
  return { numel: param.size, dtype: 'float32', shape: param.shape, name: param.name };
}

function checkGradient(param: tf.Variable, grad: tf.Tensor, info: TensorInfo): GradientProblem | undefined {
  if (!isTensor(grad) || grad.isDisposed) {
    return { problem: `is ${isTensor(grad) ? 'a disposed tensor' : typeof grad}`, fix: 'Pass a live float32 tf.Tensor.' };
  }
  if (grad.dtype !== 'float32') return { problem: `has dtype ${grad.dtype}`, fix: 'Cast the gradient to float32.' };
  if (!tf.util.arraysEqual(grad.shape, param.shape)) {
    return {
      problem: `has shape [${grad.shape}] but the variable has [${info.shape}]`,
      fix: 'Pass a gradient shaped like its variable.',
    };
  }
  return undefined;
}

/**
 * The v1 backend contract over `tf.Variable`s on whatever tfjs backend is active at each step
 * (`backendId` names it, e.g. `tfjs-webgl`). Gradients are always handed in (`step(grads)`,
 * `stepParam(variable, grad)`); the kernel is resolved once per step for every tensor of it.
 * Every kernel folds a loss scaler's unscale (`gradScale`) into phase 1, and `nonFinite: 'skip' |
 * 'throw'` costs one scalar-vector readback per step (`findNonFiniteGradients`); `'propagate'`
 * reads nothing back. (`StableAdamW` adds the device's 'skip' decision on the fused webgpu and
 * WebGL2 paths: `withDeviceSkip`.)
 * `StableAdamW` builds on it; use it directly only to drive core's `StableAdamWOptimizer` yourself.
 *
 * @param options.kernel `auto` (default): fused kernels where the backend has them (webgl, webgpu, cpu, wasm),
 *   composed ops elsewhere; `fused` throws an `UnsupportedBackendError` at a step on other backends.
 * @throws InvalidParamError for an unknown `kernel`.
 */
export function createTfjsBackend(
  options: { kernel?: KernelChoice | undefined } = {},
): StableAdamWBackendV1<tf.Variable, tf.Tensor, TfjsState, TfjsPartialSum> {
  const { kernel: choice = 'auto' } = options;
  if (!KERNEL_CHOICES.includes(choice)) {
    throw new InvalidParamError('kernel', `is ${JSON.stringify(choice)}`, "Use 'auto', 'fused' or 'composed'.");
  }
  return {
    specificationVersion: 'v1',
    get backendId() {
      return `tfjs-${tf.getBackend()}`;
    },
    describeParam: describeVariable,
    checkGrad: checkGradient,
    // Composed, WebGL and WebGPU kernels all multiply the gradient by MomentScalars.gradScale in phase 1.
    supportsGradScale: true,
    findNonFinite: (items) => findNonFiniteGradients(items.map(({ grad }) => grad)),
    // Resolved before any tensor is touched: a refused kernel throws with nothing changed.
    stepTensors(items) {
      const { kernel, stepTensors } = resolveKernel(choice);
      if (stepTensors) return stepTensors(items);
      const updates = items.map(({ param, grad, state, moments, update }) =>
        kernel.applyUpdate(param, grad, state, kernel.updateMoments(param, grad, state, moments), update),
      );
      return andThen(settle(updates), () => undefined);
    },
    updateMoments(param, grad, state, scalars) {
      const { kernel } = resolveKernel(choice);
      return { kernel, sumSquares: kernel.updateMoments(param, grad, state, scalars) };
    },
    applyUpdate: (param, grad, state, { kernel, sumSquares }, scalars) =>
      kernel.applyUpdate(param, grad, state, sumSquares, scalars),
    createState: (param) => createTfjsState(param),
    importState: (param, _info, values) => importTfjsState(param, values),
    exportState: (state) => exportTfjsState(state),
    disposeState: disposeTfjsState,
  };
}
