import { InvalidParamError } from '@stable-adamw/core';
import { checkedShape, type GradientProblem, type TensorInfo } from '@stable-adamw/core/adapter';
import type { GPU } from 'gpu.js';
import type { DeviceFacts } from './device.js';
import { type GpuJsTensor, liveTensorProblem, numelOf, tensorProblem } from './tensor.js';

/**
 * A parameter of the gpu.js adapter. Each step replaces `data` with a new device tensor holding the
 * updated values (the previous one is deleted if the optimizer made it), so read `param.data`
 * afresh for every forward pass. Set `grad` after each backward pass (`null`/absent: skip).
 */
export interface GpuJsParam {
  /** Initial values (a `Float32Array` or a 1-D float texture), then the optimizer's output. */
  data: GpuJsTensor;
  /** A `Float32Array` or a 1-D float texture from your own gpu.js kernel; never written to. */
  grad?: GpuJsTensor | null;
  /** Logical row-major shape; its product must be the element count. Default `[numel]`. */
  shape?: readonly number[];
  /** Used in error messages and by name-based param grouping. */
  name?: string;
}

/**
 * Validates a param against the device (its element limit; `data` alive and on `gpu`'s context)
 * and describes it for core. Core calls it before every step, so a param deleted or replaced since
 * is refused before anything runs.
 */
export function describeGpuJsParam(param: GpuJsParam, where: string, device: DeviceFacts, gpu: GPU): TensorInfo {
  if (typeof param !== 'object' || param === null) {
    throw new InvalidParamError(
      where,
      `is ${String(param)}, not a { data, grad } object`,
      'Pass params as { data: Float32Array }.',
    );
  }
  const label = param.name ? `${where} (${param.name})` : where;
  const problem = tensorProblem(param.data, undefined);
  if (problem) {
    throw new InvalidParamError(
      `${label}.data`,
      problem,
      "Pass a Float32Array, or a texture of a gpu.js kernel with output [n] and precision 'single'.",
    );
  }
  const dead = liveTensorProblem(param.data, gpu);
  if (dead) {
    throw new InvalidParamError(
      `${label}.data`,
      dead,
      "Leave the optimizer's param tensors alive until it is disposed; to replace one, assign param.data a live tensor of the optimizer's GPU (e.g. from opt.readParam or a checkpoint) before stepping.",
    );
  }
  const numel = numelOf(param.data);
  if (numel === 0) throw new InvalidParamError(label, 'has no elements', 'Leave empty tensors out of the optimizer.');
  if (numel > device.maxElements) {
    throw new InvalidParamError(
      label,
      `has ${numel} elements, more than the ${device.maxElements} this device holds in one tensor (${device.limitName})`,
      'Split the tensor into several params of at most that many elements.',
    );
  }
  const shape = checkedShape(param.shape, numel, label);
  return { numel, dtype: 'float32', shape, ...(param.name ? { name: param.name } : {}) };
}

/**
 * Checks a gradient against its param: a Float32Array or a live 1-D float texture of `gpu`'s
 * context, of the same length.
 */
export function checkGpuJsGrad(grad: GpuJsTensor, info: TensorInfo, gpu: GPU): GradientProblem | undefined {
  const problem = tensorProblem(grad, info.numel);
  const dead = problem ? undefined : liveTensorProblem(grad, gpu);
  if (dead) {
    return {
      problem: dead,
      fix: "Pass a gradient made by a kernel of the optimizer's own GPU instance, and delete it only after the step (after `await opt.step()` in promise-returning modes).",
    };
  }
  if (!problem) return undefined;
  return {
    problem,
    fix: `Pass a Float32Array of length ${info.numel}, or the texture of a gpu.js kernel with output [${info.numel}], pipeline: true and precision 'single'.`,
  };
}
