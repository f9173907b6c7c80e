import type { MaybePromise } from '@stable-adamw/core';
import { andThen } from '@stable-adamw/core/adapter';
import type { GPU, Texture } from 'gpu.js';

/**
 * Values of a param or gradient: a `Float32Array` on the host, or the result of a gpu.js kernel
 * with `pipeline: true` — a `Texture` on WebGL/WebGL2/headlessgl, a buffer handle with the same
 * surface (`toArray()` returning a promise, `delete()`) on WebGPU, and a Float32Array on
 * `cpu`/`webasm`. Typed as gpu.js's `Texture` so it passes straight into your kernels.
 */
export type GpuJsTensor = Float32Array | Texture;

/** The runtime surface shared by gpu.js textures and WebGPU buffer handles. */
interface DeviceTensor {
  /** gpu.js output dimensions `[x]`, `[x, y]` or `[x, y, z]`. */
  readonly output: ArrayLike<number>;
  toArray(): unknown;
  delete(): void;
  /** The kernel that produced it; its `precision` tells packed 8-bit textures apart. */
  readonly kernel?: { readonly precision?: string } | null;
  /** Set by gpu.js once `delete()` ran: a WebGL texture may then be reused for other data, a WebGPU buffer is gone. */
  readonly _deleted?: boolean;
  /** The WebGL context of a texture, or gpu.js's `{ device, isLost }` pair for a WebGPU buffer. */
  readonly context?: { readonly isLost?: boolean; isContextLost?(): boolean } | null;
}

/** True for a gpu.js texture or WebGPU buffer handle. */
export function isDeviceTensor(x: unknown): x is Texture {
  return (
    typeof x === 'object' &&
    x !== null &&
    !ArrayBuffer.isView(x) &&
    typeof (x as DeviceTensor).toArray === 'function' &&
    typeof (x as DeviceTensor).delete === 'function' &&
    typeof (x as DeviceTensor).output === 'object'
  );
}

/** Frees a device tensor; host arrays need nothing. */
export function deleteDeviceTensor(x: GpuJsTensor): void {
  if (isDeviceTensor(x)) x.delete();
}

function outputOf(x: Texture): number[] {
  return Array.from((x as unknown as DeviceTensor).output);
}

/** A short description of a value for error messages. */
export function describeKind(x: unknown): string {
  if (x === null || x === undefined) return String(x);
  if (isDeviceTensor(x)) return `${(x as object).constructor?.name ?? 'texture'} with output [${outputOf(x).join(', ')}]`;
  return (x as object).constructor?.name ?? typeof x;
}

/**
 * Why a tensor cannot stand for `numel` float32 values, or undefined. Device tensors must be 1-D
 * (`output: [numel]`) and single precision.
 */
export function tensorProblem(x: unknown, numel: number | undefined): string | undefined {
  if (x instanceof Float32Array) {
    return numel === undefined || x.length === numel ? undefined : `has ${x.length} elements but ${numel} are needed`;
  }
  if (!isDeviceTensor(x)) return `is ${describeKind(x)}, not a Float32Array or a gpu.js pipeline texture`;
  if ((x as unknown as DeviceTensor).kernel?.precision === 'unsigned')
    return `is a texture of a kernel with precision 'unsigned' (8-bit packed values)`;
  const dims = outputOf(x).filter((d, i) => i === 0 || d !== 1);
  if (dims.length !== 1) return `is a ${describeKind(x)}, but only 1-D outputs [n] are supported`;
  if (numel !== undefined && dims[0] !== numel) return `has ${dims[0]} elements but ${numel} are needed`;
  return undefined;
}

/**
 * Why a device tensor cannot be read by kernels on `gpu`, or undefined: deleted, on a lost WebGL
 * context or WebGPU device, or a texture of another WebGL context (another `GPU` instance). gpu.js
 * would read a deleted texture's recycled contents without complaint, or throw mid-step.
 */
export function liveTensorProblem(x: GpuJsTensor, gpu: GPU): string | undefined {
  if (!isDeviceTensor(x)) return undefined;
  const tensor = x as unknown as DeviceTensor;
  if (tensor._deleted) return 'was deleted (its delete() was called)';
  const context = tensor.context;
  if (context?.isLost) return 'lives on a WebGPU device that was lost';
  if (typeof context?.isContextLost === 'function') {
    if (context.isContextLost()) return 'lives on a WebGL context that was lost';
    if (context !== (gpu as unknown as { context?: unknown }).context) {
      return 'is a texture of another WebGL context (made by another gpu.js GPU instance)';
    }
  }
  return undefined;
}

/** Element count of a tensor that passed `tensorProblem`. */
export function numelOf(x: GpuJsTensor): number {
  return x instanceof Float32Array ? x.length : (outputOf(x)[0] as number);
}

/** WebGPU buffer handles whose elements start past the buffer's start, and where (in floats). */
const viewOffsets = new WeakMap<object, number>();

/** The fields of gpu.js's WebGPU buffer handle (`WebGPUBufferResult`) the vector kernels reshape. */
interface BufferHandle {
  output: number[];
  componentCount: number;
  buffer: unknown;
  clone(): BufferHandle;
}

/**
 * The result of a gpu.js WebGPU kernel that returns `Array(4)` per thread, relabelled as the 1-D
 * tensor of its first `n` floats: gpu.js binds a vector result as an argument only as a plain
 * float array, and the buffer holds exactly those floats in order.
 */
export function asElements(result: GpuJsTensor, n: number): GpuJsTensor {
  const handle = result as unknown as BufferHandle;
  handle.componentCount = 1;
  handle.output = [n];
  return result;
}

/**
 * A second handle on `tensor`'s buffer (it holds the buffer alive until deleted too), standing for
 * the `n` floats from `offset` on. A kernel given it binds the whole buffer, so only the kernels
 * that know the layout take it; `readTensor` reads the view's own floats.
 */
export function viewOf(tensor: GpuJsTensor, offset: number, n: number): GpuJsTensor {
  const view = (tensor as unknown as BufferHandle).clone();
  view.output = [n];
  viewOffsets.set(view, offset);
  return view as unknown as GpuJsTensor;
}

/** Where a view's floats start in its buffer (0 for anything but a `viewOf` handle). */
export function viewOffsetOf(tensor: GpuJsTensor): number {
  return viewOffsets.get(tensor) ?? 0;
}

/** Whether `view` is `viewOf(tensor, offset, …)` or a view of the same buffer at that offset. */
export function isViewAt(view: GpuJsTensor, tensor: GpuJsTensor, offset: number): boolean {
  return (
    viewOffsets.get(view) === offset &&
    isDeviceTensor(tensor) &&
    (view as unknown as BufferHandle).buffer === (tensor as unknown as BufferHandle).buffer
  );
}

/** Reads a tensor as a fresh Float32Array (a copy for host arrays, a device readback otherwise). */
export function readTensor(x: GpuJsTensor): MaybePromise<Float32Array> {
  if (x instanceof Float32Array) return x.slice();
  const offset = viewOffsets.get(x);
  if (offset !== undefined) {
    // Read the buffer up to the view's end with a temporary handle (WebGPU reads are promises).
    const whole = (x as unknown as BufferHandle).clone();
    whole.output = [offset + numelOf(x)];
    const wholeTensor = whole as unknown as Texture;
    return Promise.resolve(wholeTensor.toArray() as MaybePromise<ArrayLike<number>>)
      .finally(() => wholeTensor.delete())
      .then((values) => Float32Array.from(values).slice(offset));
  }
  return andThen(x.toArray() as MaybePromise<ArrayLike<number>>, (values) => Float32Array.from(values));
}
