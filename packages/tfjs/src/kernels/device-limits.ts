import { InvalidParamError } from '@stable-adamw/core';
import * as tf from '@tensorflow/tfjs-core';
import { activeWebGPU, maxBindingElements } from './webgpu-multi-tensor.js';

/**
 * Refuses a variable the active backend cannot hold in one texture (WebGL) or one buffer binding
 * (WebGPU), so it fails at construction or before a step starts instead of half-way through one.
 * WebGL stores a float32 tensor of n elements unpacked in at most a maxTextureSize² texture.
 */
export function checkDeviceLimits(param: tf.Variable, label: string): void {
  const backend = tf.getBackend();
  if (backend === 'webgl') {
    const side = tf.env().getNumber('WEBGL_MAX_TEXTURE_SIZE');
    if (param.size > side * side) {
      throw new InvalidParamError(
        label,
        `has ${param.size} elements, more than one WebGL texture holds (maxTextureSize ${side}, so ${side * side} elements)`,
        "Split the variable into smaller ones, or train it on the 'webgpu', 'wasm' or 'cpu' backend.",
      );
    }
  } else if (backend === 'webgpu') {
    const webgpu = activeWebGPU();
    const limit = webgpu ? maxBindingElements(webgpu) : Number.POSITIVE_INFINITY;
    if (param.size > limit) {
      throw new InvalidParamError(
        label,
        `has ${param.size} elements, more than one WebGPU buffer binding holds (maxStorageBufferBindingSize allows ${limit} float32 elements)`,
        "Split the variable into smaller ones, or train it on the 'wasm' or 'cpu' backend.",
      );
    }
  }
}
