import { UnsupportedBackendError } from '@stable-adamw/core';
import type { GPU } from 'gpu.js';

/**
 * Largest tensor whose element indices are exact where gpu.js computes them in float32: GLSL ES
 * 1.00 kernels (`webgl`, `headlessgl`) and `webasm`. WebGL2 and WebGPU kernels index with integers.
 */
const FLOAT_INDEX_LIMIT = 2 ** 24;

/**
 * Largest tensor on WebGPU: 128 MiB of float32, the storage-buffer binding size every WebGPU device
 * supports (gpu.js asks the adapter for more, but the adapter is only known once a kernel runs).
 */
const WEBGPU_LIMIT = 2 ** 25;
const webgpuLimitName = '2^25 elements: 128 MiB per WebGPU storage buffer, the size every device supports';

/** Where the optimizer's kernels run: the backend gpu.js resolved, or `async` (which may move kernels to webgpu). */
export type GpuJsMode = 'cpu' | 'webasm' | 'webgl' | 'webgl2' | 'headlessgl' | 'webgpu' | 'async' | 'gl' | (string & {});

interface KernelFeatures {
  readonly kernelMap?: boolean;
  readonly maxTextureSize?: number;
  readonly isFloatRead?: boolean;
  readonly isTextureFloat?: boolean;
}

/** A gpu.js kernel class (`gpu.Kernel`, or the constructor of a compiled kernel). */
export interface KernelClass {
  readonly name: string;
  readonly mode?: string;
  readonly features?: KernelFeatures;
}

const GL_CLASS_MODES: Record<string, string> = { WebGL2Kernel: 'webgl2', WebGLKernel: 'webgl', HeadlessGLKernel: 'headlessgl' };
const GL_MODES = new Set(['webgl2', 'webgl', 'headlessgl', 'gl']);

/** The mode a gpu.js kernel class runs in; GL classes all report `'gpu'`, so tell them apart by name. */
export function modeOfKernelClass(kernelClass: KernelClass): string {
  const gl = GL_CLASS_MODES[kernelClass.name];
  if (gl) return gl;
  return kernelClass.mode === 'gpu' ? 'gl' : (kernelClass.mode ?? 'unknown');
}

/** What the adapter needs to know about a gpu.js instance. */
export interface DeviceFacts {
  readonly mode: GpuJsMode;
  /** Elements one tensor may hold here, and a description of where the limit comes from. */
  readonly maxElements: number;
  readonly limitName: string;
  /** Whether moments run as one kernel map (webgl, webgl2, headlessgl, cpu) or two kernels. */
  readonly usesKernelMap: boolean;
  /**
   * Whether steps run the four-elements-per-thread kernels of kernels/vector.ts (`webgpu`: no
   * kernel maps, and a gpu.js thread costs about as much as the elements it moves).
   */
  readonly vectorKernels: boolean;
  /** `cpu` and `webasm` keep "device" tensors as Float32Arrays: nothing to upload. */
  readonly hostResident: boolean;
  /**
   * Whether a step's tensors run packed (`cpu` only). On `webasm` the per-tensor path is faster:
   * gpu.js copies every argument into wasm memory and the output out of it per launch, which small
   * tensors do in cache and 2^18-element packs do not (512 × 8k: packed ~1.2× the per-tensor time).
   */
  readonly packsHostTensors: boolean;
  /**
   * Largest piece of a host-resident tensor one kernel launch handles: `webasm` indexes arrays in
   * float32 even in integer expressions, so larger tensors are stepped in tiles of 2^24 elements.
   */
  readonly tileElements: number;
}

/** Reads the facts of the backend `gpu` resolved to; refuses modes without float kernels. */
export function describeDevice(gpu: GPU): DeviceFacts {
  const kernelClass = (gpu as unknown as { Kernel?: KernelClass | null }).Kernel;
  const requested = (gpu as unknown as { mode?: string }).mode;
  if (!kernelClass || requested === 'dev') {
    throw new UnsupportedBackendError(
      `gpu.js mode ${JSON.stringify(requested)} runs no kernels this optimizer can use`,
      "Create the GPU with one of the modes 'gpu', 'async', 'webgl2', 'webgl', 'headlessgl', 'webgpu', 'webasm' or 'cpu'.",
    );
  }
  const features = kernelClass.features ?? {};
  const kernelMode = modeOfKernelClass(kernelClass);
  const isGl = GL_MODES.has(kernelMode);
  if (isGl && !(features.isFloatRead && features.isTextureFloat)) {
    throw new UnsupportedBackendError(
      `gpu.js ${kernelMode} on this device has no float textures, so it could only run with precision 'unsigned' (8-bit packed values)`,
      "Use a device with OES_texture_float / WebGL2 float render targets, or gpu.js mode 'webasm' or 'cpu'.",
    );
  }
  return {
    // `async` mode may move a kernel to webgpu on its first call: report it as such.
    mode: requested === 'async' ? 'async' : kernelMode,
    // webasm runs kernel maps on its cpu fallback only, and webgpu not at all.
    usesKernelMap: features.kernelMap === true && requested !== 'async' && kernelMode !== 'webasm',
    vectorKernels: requested !== 'async' && kernelMode === 'webgpu',
    hostResident: requested !== 'async' && (kernelMode === 'cpu' || kernelMode === 'webasm'),
    packsHostTensors: requested !== 'async' && kernelMode === 'cpu',
    tileElements: kernelMode === 'webasm' ? FLOAT_INDEX_LIMIT : Number.POSITIVE_INFINITY,
    ...(requested === 'async' ? asyncLimit(elementLimit(kernelMode, isGl, features)) : elementLimit(kernelMode, isGl, features)),
  };
}

/** The element limit of one tensor on the backend gpu.js resolved, and where it comes from. */
function elementLimit(kernelMode: string, isGl: boolean, features: KernelFeatures): { maxElements: number; limitName: string } {
  if (kernelMode === 'cpu' || kernelMode === 'webasm') {
    return { maxElements: 2 ** 31 - 1, limitName: 'the largest typed array index' };
  }
  if (!isGl) return { maxElements: WEBGPU_LIMIT, limitName: webgpuLimitName };
  const size = features.maxTextureSize ?? 0;
  const texels = `maxTextureSize ${size} × ${size} texels`;
  if (kernelMode !== 'webgl2') {
    return {
      maxElements: Math.min(size * size, FLOAT_INDEX_LIMIT),
      limitName: `${texels}, capped at 2^24 for exact float indices in GLSL ES 1.00 kernels`,
    };
  }
  return { maxElements: size * size, limitName: texels };
}

/** The element limit of `async` mode, whose kernels may run on WebGPU or on the GL backend it resolved. */
function asyncLimit(gl: { maxElements: number; limitName: string }): { maxElements: number; limitName: string } {
  return gl.maxElements <= WEBGPU_LIMIT ? gl : { maxElements: WEBGPU_LIMIT, limitName: webgpuLimitName };
}
