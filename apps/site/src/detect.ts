/** What the visitor's browser offers the backends (read once, before anything runs). */
export interface Detection {
  webgpu: {
    available: boolean;
    /** Vendor, architecture and description as the adapter reports them. */
    adapter?: string;
    /** The adapter is a software fallback (e.g. SwiftShader). */
    fallback?: boolean;
    limits?: Record<(typeof WEBGPU_LIMITS)[number], number>;
    /** Why there is no adapter. */
    reason?: string;
  };
  webgl2: {
    available: boolean;
    renderer?: string;
    /** Float32 render targets (`EXT_color_buffer_float`), which the WebGL kernels write. */
    floatTextures: boolean;
    maxTextureSize?: number;
  };
  wasm: { simd: boolean; threads: boolean };
  crossOriginIsolated: boolean;
  sharedArrayBuffer: boolean;
  hardwareConcurrency: number;
  userAgent: string;
}

/** The WebGPU limits that bound the kernels' tensor sizes and workgroups. */
export const WEBGPU_LIMITS = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxStorageBuffersPerShaderStage',
  'maxComputeWorkgroupSizeX',
  'maxComputeInvocationsPerWorkgroup',
] as const;

// A module whose one function returns `v128.const 0`: it validates only where WebAssembly SIMD exists.
const SIMD_PROBE = new Uint8Array([
  0x00,
  0x61,
  0x73,
  0x6d,
  0x01,
  0x00,
  0x00,
  0x00,
  0x01,
  0x05,
  0x01,
  0x60,
  0x00,
  0x01,
  0x7b,
  0x03,
  0x02,
  0x01,
  0x00,
  0x0a,
  0x16,
  0x01,
  0x14,
  0x00,
  0xfd,
  0x0c,
  ...new Array(16).fill(0),
  0x0b,
]);

function wasmThreads(): boolean {
  if (!globalThis.crossOriginIsolated || typeof SharedArrayBuffer !== 'function') return false;
  try {
    return new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true }).buffer instanceof SharedArrayBuffer;
  } catch {
    return false;
  }
}

async function webgpu(): Promise<Detection['webgpu']> {
  const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
  if (!gpu) return { available: false, reason: 'navigator.gpu is missing: WebGPU is off or unsupported in this browser' };
  try {
    const adapter = await gpu.requestAdapter();
    if (!adapter) return { available: false, reason: 'requestAdapter() returned null: no usable GPU' };
    // `adapter.info` (Chrome 114+) is newer than the WebGPU types tfjs brings.
    const info: Partial<GPUAdapterInfo> & { isFallbackAdapter?: boolean } =
      (adapter as GPUAdapter & { info?: GPUAdapterInfo }).info ?? {};
    const name = [info.vendor, info.architecture, info.description].filter(Boolean).join(' ');
    const limits = Object.fromEntries(WEBGPU_LIMITS.map((k) => [k, adapter.limits[k]])) as Record<
      (typeof WEBGPU_LIMITS)[number],
      number
    >;
    const fallback = info.isFallbackAdapter ?? false;
    return { available: true, adapter: name || 'unnamed adapter', fallback, limits };
  } catch (error) {
    return { available: false, reason: error instanceof Error ? error.message : String(error) };
  }
}

function webgl2(): Detection['webgl2'] {
  const gl = document.createElement('canvas').getContext('webgl2');
  if (!gl) return { available: false, floatTextures: false };
  const debug = gl.getExtension('WEBGL_debug_renderer_info');
  const renderer = String(gl.getParameter(debug ? debug.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
  const result = {
    available: true,
    renderer,
    floatTextures: gl.getExtension('EXT_color_buffer_float') !== null,
    maxTextureSize: Number(gl.getParameter(gl.MAX_TEXTURE_SIZE)),
  };
  // Give the context back now: browsers cap live WebGL contexts and the backends need their own.
  gl.getExtension('WEBGL_lose_context')?.loseContext();
  return result;
}

/** Reads what this browser offers: WebGPU and its limits, WebGL2, WebAssembly SIMD and threads, cores. */
export async function detect(): Promise<Detection> {
  return {
    webgpu: await webgpu(),
    webgl2: webgl2(),
    wasm: { simd: WebAssembly.validate(SIMD_PROBE), threads: wasmThreads() },
    crossOriginIsolated: globalThis.crossOriginIsolated === true,
    sharedArrayBuffer: typeof SharedArrayBuffer === 'function',
    hardwareConcurrency: navigator.hardwareConcurrency || 1,
    userAgent: navigator.userAgent,
  };
}
