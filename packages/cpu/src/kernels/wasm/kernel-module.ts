import { PLAIN_KERNEL_BASE64, SHARED_KERNEL_BASE64 } from './generated/kernel-wasm.js';

/** The exports of assembly/kernel.ts (byte pointers into the memory, block ranges). */
export interface KernelExports {
  heapBase(): number;
  momentsF32(table: number, blocks: number, partials: number, from: number, to: number): void;
  updateF32(table: number, blocks: number, from: number, to: number): void;
  momentsBf16(table: number, blocks: number, partials: number, from: number, to: number): void;
  updateBf16(table: number, blocks: number, from: number, to: number): void;
  momentsF16(table: number, blocks: number, partials: number, from: number, to: number): void;
  updateF16(table: number, blocks: number, from: number, to: number): void;
  nonFiniteF32(pointer: number, count: number): number;
  nonFinite16(pointer: number, count: number, exponentMask: number): number;
}

function decode(base64: string): Uint8Array<ArrayBuffer> {
  const text = atob(base64);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

const compiled = new Map<boolean, Promise<WebAssembly.Module | undefined>>();

/**
 * The kernel module for shared (threads) or ordinary memory, compiled once and asynchronously
 * (browsers refuse to compile large modules synchronously on the main thread); undefined where
 * the runtime lacks WebAssembly SIMD.
 */
export function kernelModule(shared: boolean): Promise<WebAssembly.Module | undefined> {
  let module = compiled.get(shared);
  if (!module) {
    const bytes = decode(shared ? SHARED_KERNEL_BASE64 : PLAIN_KERNEL_BASE64);
    module =
      typeof WebAssembly === 'object' && WebAssembly.validate(bytes) ? WebAssembly.compile(bytes) : Promise.resolve(undefined);
    compiled.set(shared, module);
  }
  return module;
}

/** Instantiates the kernel over `memory` (the module imports `env.memory`). */
export async function instantiateKernel(module: WebAssembly.Module, memory: WebAssembly.Memory): Promise<KernelExports> {
  const instance = await WebAssembly.instantiate(module, { env: { memory } });
  return instance.exports as unknown as KernelExports;
}
