import { PLAIN_HOST_STEP_BASE64, SHARED_HOST_STEP_BASE64 } from './generated/host-step-wasm.js';

/** The SIMD loops of `assembly/host-step.ts`, bound to one tfjs-wasm heap (pointers are its byte offsets). */
export interface HostStepModule {
  moments(
    g: number,
    m: number,
    v: number,
    n: number,
    w1: number,
    beta2: number,
    w2: number,
    gradScale: number,
    epsSq: number,
    reduce: boolean,
  ): number;
  update(p: number, m: number, v: number, out: number, n: number, decay: number, lr: number, eps: number): void;
}

/** The part of tfjs-backend-wasm's emscripten module that holds its heap. */
interface WasmBackendLike {
  readonly wasm?: { readonly asm?: { readonly memory?: unknown } };
}

const modules = new WeakMap<WebAssembly.Memory, HostStepModule | null>();

function decode(base64: string): Uint8Array<ArrayBuffer> {
  const bytes = atob(base64);
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) out[i] = bytes.charCodeAt(i);
  return out;
}

/**
 * The SIMD step loops instantiated on `backend`'s heap (once per heap), or null where they cannot
 * run: not tfjs-wasm, an engine without WebAssembly SIMD, or a heap this build does not expose.
 * Synchronous compilation is fine: the module is under 1 kB.
 */
export function hostStepModule(backend: unknown): HostStepModule | null {
  const memory = (backend as WasmBackendLike).wasm?.asm?.memory;
  if (!(memory instanceof WebAssembly.Memory)) return null;
  let module = modules.get(memory);
  if (module === undefined) {
    const shared = typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
    const bytes = decode(shared ? SHARED_HOST_STEP_BASE64 : PLAIN_HOST_STEP_BASE64);
    module = WebAssembly.validate(bytes)
      ? (new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } }).exports as unknown as HostStepModule)
      : null;
    modules.set(memory, module);
  }
  return module;
}
