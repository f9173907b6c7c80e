import { vi } from 'vitest';

/** Browser gpu.js modes the device tests run. */
export type BrowserMode = 'webgl2' | 'webgl' | 'webgpu';

type Methods = Record<string, (...args: unknown[]) => unknown>;

/** The prototype of a browser global class (e.g. `GPUBuffer`), for spying. */
export function protoOf(name: string): Methods {
  return (globalThis as unknown as Record<string, { prototype: Methods }>)[name]?.prototype as Methods;
}

/** Live device objects and readbacks since the spies were installed. */
export interface DeviceCounts {
  readonly readbacks: number;
  /** Textures (GL) or buffers (WebGPU) created and not yet freed. */
  readonly live: number;
}

/** Counts readbacks and live textures (GL) or buffers (WebGPU): created objects not yet freed. */
export function deviceCounters(mode: BrowserMode): () => DeviceCounts {
  const gpu = mode === 'webgpu';
  const gl = protoOf(mode === 'webgl2' ? 'WebGL2RenderingContext' : 'WebGLRenderingContext');
  const read = gpu ? vi.spyOn(protoOf('GPUBuffer'), 'mapAsync') : vi.spyOn(gl, 'readPixels');
  const create = gpu ? vi.spyOn(protoOf('GPUDevice'), 'createBuffer') : vi.spyOn(gl, 'createTexture');
  const free = gpu ? vi.spyOn(protoOf('GPUBuffer'), 'destroy') : vi.spyOn(gl, 'deleteTexture');
  return () => {
    const freed = new Set(gpu ? free.mock.contexts : free.mock.calls.map((args) => args[0]));
    const live = create.mock.results.filter((r) => r.type === 'return' && !freed.has(r.value)).length;
    return { readbacks: read.mock.calls.length, live };
  };
}

/**
 * Makes the device fail on its `nth` next submission (a WebGL draw call or a WebGPU queue
 * submit), as a lost context or out-of-memory would part-way through a step. Returns the spy;
 * `mockRestore()` it to heal the device.
 */
export function failNthSubmission(mode: BrowserMode, nth: number) {
  const target =
    mode === 'webgpu' ? protoOf('GPUQueue') : protoOf(mode === 'webgl2' ? 'WebGL2RenderingContext' : 'WebGLRenderingContext');
  const method = mode === 'webgpu' ? 'submit' : 'drawArrays';
  const original = target[method] as (...args: unknown[]) => unknown;
  let calls = 0;
  return vi.spyOn(target, method).mockImplementation(function (this: unknown, ...args: unknown[]) {
    calls += 1;
    if (calls === nth) throw new Error('simulated device failure');
    return original.apply(this, args);
  });
}
