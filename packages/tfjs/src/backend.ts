import {
  createComposedKernel,
  type GradientProblem,
  InvalidParamError,
  type StableAdamWBackendV1,
  type StableAdamWKernelV1,
  type TensorInfo,
  type TensorStateValues,
  UnsupportedBackendError,
} from '@stable-adamw/core';
import * as tf from '@tensorflow/tfjs-core';
import { tfjsOps } from './kernels/tensor-ops.js';
import { webglKernel } from './kernels/webgl-kernel.js';
import { webgpuKernel } from './kernels/webgpu-kernel.js';
import type { TfjsState } from './state.js';

/** Which kernels run a step: fused programs where the backend has them, the composed ops, or `auto`. */
export type KernelChoice = 'auto' | 'fused' | 'composed';

type Kernel = StableAdamWKernelV1<tf.Variable, tf.Tensor, TfjsState, tf.Scalar>;

const composedKernel = createComposedKernel(tfjsOps) as unknown as Kernel;

/** Backends with fused kernels. */
const FUSED: Record<string, Kernel> = { webgl: webglKernel, webgpu: webgpuKernel };

function isVariable(x: unknown): x is tf.Variable {
  return typeof x === 'object' && x !== null && typeof (x as tf.Variable).assign === 'function' && 'trainable' in x;
}

function isTensor(x: unknown): x is tf.Tensor {
  return (
    typeof x === 'object' && x !== null && typeof (x as tf.Tensor).dataId === 'object' && Array.isArray((x as tf.Tensor).shape)
  );
}

/** A non-trainable float32 variable; the tensor it is created from is freed (the variable keeps the data). */
function stateVariable(initial: tf.Tensor): tf.Variable {
  const variable = tf.variable(initial, false);
  initial.dispose();
  return variable;
}

const variableFrom = (values: ArrayLike<number>, shape: number[]) =>
  stateVariable(tf.tensor(Float32Array.from(values), shape, 'float32'));

/** Picks the kernel for the active tfjs backend, or explains why `fused` cannot run there. */
export function resolveKernel(choice: KernelChoice): { kernel: Kernel; name: 'fused' | 'composed' } {
  const fused = FUSED[tf.getBackend()];
  if (choice === 'composed' || (choice === 'auto' && !fused)) return { kernel: composedKernel, name: 'composed' };
  if (!fused) {
    throw new UnsupportedBackendError(
      `kernel: 'fused' was requested but the active tfjs backend \`${tf.getBackend()}\` has no fused StableAdamW kernels (available on: ${Object.keys(FUSED).join(', ')})`,
      "Use kernel: 'auto' (fused where available) or 'composed'.",
    );
  }
  return { kernel: fused, name: 'fused' };
}

/** The v1 contract over `tf.Variable`s; gradients are looked up in `grads` (set by `applyGradients`). */
export function createTfjsBackend(
  grads: Map<tf.Variable, tf.Tensor>,
  choice: KernelChoice,
): StableAdamWBackendV1<tf.Variable, tf.Tensor, TfjsState, tf.Scalar> {
  return {
    specificationVersion: 'v1',
    get backendId() {
      return `tfjs-${tf.getBackend()}`;
    },
    updateMoments: (param, grad, state, scalars) => resolveKernel(choice).kernel.updateMoments(param, grad, state, scalars),
    applyUpdate: (param, grad, state, sum, scalars) => resolveKernel(choice).kernel.applyUpdate(param, grad, state, sum, scalars),
    describeParam(param, where): TensorInfo {
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
      if (param.size === 0) throw new InvalidParamError(label, 'has no elements', 'Leave empty variables out of the optimizer.');
      return { numel: param.size, dtype: 'float32', shape: param.shape, name: param.name };
    },
    getGrad: (param) => grads.get(param),
    clearGrad: (param) => {
      grads.delete(param);
    },
    checkGrad(param, grad, info): GradientProblem | undefined {
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
    },
    createState: (param) => ({
      expAvg: stateVariable(tf.zeros(param.shape, 'float32')),
      expAvgSq: stateVariable(tf.zeros(param.shape, 'float32')),
      kahanComp: null,
    }),
    importState: (param, _info, values: TensorStateValues) => ({
      expAvg: variableFrom(values.expAvg, param.shape),
      expAvgSq: variableFrom(values.expAvgSq, param.shape),
      kahanComp: null,
    }),
    async exportState(state): Promise<TensorStateValues> {
      const [expAvg, expAvgSq] = await Promise.all([state.expAvg.data(), state.expAvgSq.data()]);
      return { expAvg, expAvgSq, kahanComp: null };
    },
    disposeState(state) {
      state.expAvg.dispose();
      state.expAvgSq.dispose();
    },
  };
}
