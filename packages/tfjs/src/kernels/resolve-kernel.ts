import { UnsupportedBackendError } from '@stable-adamw/core';
import { createComposedKernel, type StableAdamWKernelV1, type TensorStep } from '@stable-adamw/core/adapter';
import * as tf from '@tensorflow/tfjs-core';
import type { TfjsState } from '../state.js';
import { stepHostTensors } from './host-kernel.js';
import { tfjsOps } from './tensor-ops.js';
import { webglKernel } from './webgl-kernel.js';
import { activeWebGL2, stepWebGLMultiTensor } from './webgl-multi-tensor.js';
import { webgpuKernel } from './webgpu-kernel.js';
import { activeWebGPU, stepWebGPUMultiTensor } from './webgpu-multi-tensor.js';

/** Which kernels run a step: fused programs where the backend has them, the composed ops, or `auto`. */
export type KernelChoice = 'auto' | 'fused' | 'composed';

/** The choices `kernel` accepts. */
export const KERNEL_CHOICES: readonly KernelChoice[] = ['auto', 'fused', 'composed'];

/** A per-tensor StableAdamW kernel over tfjs variables. */
export type TfjsKernel = StableAdamWKernelV1<tf.Variable, tf.Tensor, TfjsState, tf.Scalar>;

/** Every tensor of a `step()` at once (multi-tensor apply). */
export type TfjsMultiTensorStep = (steps: readonly TensorStep<tf.Variable, tf.Tensor, TfjsState>[]) => void;

/**
 * The kernel that runs on the active backend: `kernel` for single-tensor calls (gradient release),
 * `stepTensors` where a whole step runs in a constant number of dispatches, and `path`, what
 * really runs: `webgpu-multi-tensor` (3 dispatches per step), `webgl-fused` (4 draws per step
 * on WebGL2 for every tensor in tfjs's unpacked layout, one program per phase and tensor
 * otherwise and for gradient release), `host-fused` (one loop per phase over the cpu and wasm backends' memory; `step()` only) or
 * `composed` (tfjs ops).
 */
export interface ResolvedKernel {
  readonly kernel: TfjsKernel;
  readonly name: 'fused' | 'composed';
  readonly path: 'webgpu-multi-tensor' | 'webgl-fused' | 'host-fused' | 'composed';
  readonly stepTensors?: TfjsMultiTensorStep;
}

const composedKernel = createComposedKernel(tfjsOps) as unknown as TfjsKernel;

const stepWebGPU: TfjsMultiTensorStep = (steps) => {
  const backend = activeWebGPU();
  if (!backend) throw new UnsupportedBackendError('the webgpu backend has no GPUDevice', "Use kernel: 'composed'.");
  stepWebGPUMultiTensor(backend, steps);
};

const stepWebGL: TfjsMultiTensorStep = (steps) => {
  const backend = activeWebGL2();
  if (backend) {
    stepWebGLMultiTensor(backend, steps);
    return;
  }
  // WebGL1: one program per phase and tensor.
  for (const { param, grad, state, moments, update } of steps) {
    webglKernel.applyUpdate(param, grad, state, webglKernel.updateMoments(param, grad, state, moments), update);
  }
};

// Gradient release keeps the composed ops here (see stepHostTensors).
const hostFused: Omit<ResolvedKernel, 'name'> = {
  kernel: composedKernel,
  path: 'host-fused',
  stepTensors: (steps) => stepHostTensors(steps, composedKernel),
};

/** Backends with fused kernels. */
const FUSED: Record<string, Omit<ResolvedKernel, 'name'>> = {
  webgl: { kernel: webglKernel, path: 'webgl-fused', stepTensors: stepWebGL },
  webgpu: { kernel: webgpuKernel, path: 'webgpu-multi-tensor', stepTensors: stepWebGPU },
  cpu: hostFused,
  wasm: hostFused,
};

/** Picks the kernel for the active tfjs backend, or explains why `fused` cannot run there. */
export function resolveKernel(choice: KernelChoice): ResolvedKernel {
  const backend = tf.getBackend();
  const fused = FUSED[backend];
  if (choice === 'composed' || (choice === 'auto' && !fused)) {
    return { kernel: composedKernel, name: 'composed', path: 'composed' };
  }
  if (!fused) {
    throw new UnsupportedBackendError(
      `kernel: 'fused' was requested but the active tfjs backend \`${backend}\` has no fused StableAdamW kernels (available on: ${Object.keys(FUSED).join(', ')})`,
      "Use kernel: 'auto' (fused where available) or 'composed'.",
    );
  }
  return { ...fused, name: 'fused' };
}
