import type { GPU, IKernelFunctionThis, IKernelRunShortcut } from 'gpu.js';
import { type GpuJsTensor, isDeviceTensor } from '../tensor.js';

/**
 * The caller's own upload kernels (one per length), as a model's backward pass would make its
 * gradients: host values into pipeline textures or WebGPU buffers, and a way to free them. Tests only.
 */
export function uploader(gpu: GPU) {
  const kernels = new Map<number, IKernelRunShortcut>();
  const made: GpuJsTensor[] = [];
  return {
    async upload(host: Float32Array): Promise<GpuJsTensor> {
      let kernel = kernels.get(host.length);
      if (!kernel) {
        kernel = gpu.createKernel(
          function (this: IKernelFunctionThis, a: number[]): number {
            return a[this.thread.x] as number;
          },
          { output: [host.length], pipeline: true, immutable: true, precision: 'single', tactic: 'precision' },
        );
        kernels.set(host.length, kernel);
      }
      const tensor = (await kernel(host)) as GpuJsTensor;
      made.push(tensor);
      return tensor;
    },
    /** Frees every tensor uploaded (deleting one twice is a no-op) and the kernels. */
    destroy() {
      for (const tensor of made) if (isDeviceTensor(tensor)) tensor.delete();
      for (const kernel of kernels.values()) kernel.destroy();
    },
  };
}
