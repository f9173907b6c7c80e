import { UnsupportedBackendError } from '@stable-adamw/core';
import { createComposedKernel, type StableAdamWKernelV1 } from '@stable-adamw/core/adapter';
import * as tf from '@tensorflow/tfjs-core';
import type { TfjsState } from '../state.js';
import { tfjsOps } from './tensor-ops.js';
import { webglKernel } from './webgl-kernel.js';
import { webgpuKernel } from './webgpu-kernel.js';

/** Which kernels run a step: fused programs where the backend has them, the composed ops, or `auto`. */
export type KernelChoice = 'auto' | 'fused' | 'composed';

/** The choices `kernel` accepts. */
export const KERNEL_CHOICES: readonly KernelChoice[] = ['auto', 'fused', 'composed'];

/** A per-tensor StableAdamW kernel over tfjs variables. */
export type TfjsKernel = StableAdamWKernelV1<tf.Variable, tf.Tensor, TfjsState, tf.Scalar>;

const composedKernel = createComposedKernel(tfjsOps) as unknown as TfjsKernel;

/** Backends with fused kernels. */
const FUSED: Record<string, TfjsKernel> = { webgl: webglKernel, webgpu: webgpuKernel };

/** Picks the kernel for the active tfjs backend, or explains why `fused` cannot run there. */
export function resolveKernel(choice: KernelChoice): { kernel: TfjsKernel; name: 'fused' | 'composed' } {
  const backend = tf.getBackend();
  const fused = FUSED[backend];
  if (choice === 'composed' || (choice === 'auto' && !fused)) return { kernel: composedKernel, name: 'composed' };
  if (!fused) {
    throw new UnsupportedBackendError(
      `kernel: 'fused' was requested but the active tfjs backend \`${backend}\` has no fused StableAdamW kernels (available on: ${Object.keys(FUSED).join(', ')})`,
      "Use kernel: 'auto' (fused where available) or 'composed'.",
    );
  }
  return { kernel: fused, name: 'fused' };
}
