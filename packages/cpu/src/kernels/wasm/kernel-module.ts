import {
  PLAIN_KERNEL_BASE64,
  PLAIN_RELAXED_KERNEL_BASE64,
  SHARED_KERNEL_BASE64,
  SHARED_RELAXED_KERNEL_BASE64,
} from './generated/kernel-wasm.js';

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

/**
 * Which build of the kernel a module is: `'wasm-relaxed-simd'` (the float32 kernels use fused
 * multiply-adds) where the engine validates relaxed SIMD, else `'wasm-simd'`.
 */
export type KernelModuleName = 'wasm-simd' | 'wasm-relaxed-simd';

function decode(base64: string): Uint8Array<ArrayBuffer> {
  const text = atob(base64);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

/** (func (param v128 v128 v128) (result v128) f32x4.relaxed_madd of the three): validates only with relaxed SIMD. */
const RELAXED_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x01, 0x60, 0x03, 0x7b, 0x7b, 0x7b, 0x01, 0x7b, 0x03, 0x02, 0x01,
  0x00, 0x0a, 0x0d, 0x01, 0x0b, 0x00, 0x20, 0x00, 0x20, 0x01, 0x20, 0x02, 0xfd, 0x85, 0x02, 0x0b,
]);

let relaxed: boolean | undefined;

/** Whether this engine has relaxed SIMD (checked once, by validating a one-instruction module). */
export function hasRelaxedSimd(): boolean {
  relaxed ??= typeof WebAssembly === 'object' && WebAssembly.validate(RELAXED_PROBE);
  return relaxed;
}

const compiled = new Map<boolean, Promise<WebAssembly.Module | undefined>>();
const names = new WeakMap<WebAssembly.Module, KernelModuleName>();

/**
 * The kernel module for shared (threads) or ordinary memory, compiled once and asynchronously
 * (browsers refuse to compile large modules synchronously on the main thread): the relaxed-SIMD
 * build where the engine has relaxed SIMD, else the plain SIMD one; undefined where the runtime
 * lacks WebAssembly SIMD. `kernelModuleName` tells which.
 */
export function kernelModule(shared: boolean): Promise<WebAssembly.Module | undefined> {
  let module = compiled.get(shared);
  if (!module) {
    module = compile(shared);
    compiled.set(shared, module);
  }
  return module;
}

async function compile(shared: boolean): Promise<WebAssembly.Module | undefined> {
  if (typeof WebAssembly !== 'object') return undefined;
  const name: KernelModuleName = hasRelaxedSimd() ? 'wasm-relaxed-simd' : 'wasm-simd';
  const relaxedBuild = name === 'wasm-relaxed-simd';
  const bytes = decode(
    shared
      ? relaxedBuild
        ? SHARED_RELAXED_KERNEL_BASE64
        : SHARED_KERNEL_BASE64
      : relaxedBuild
        ? PLAIN_RELAXED_KERNEL_BASE64
        : PLAIN_KERNEL_BASE64,
  );
  if (!WebAssembly.validate(bytes)) return undefined;
  const module = await WebAssembly.compile(bytes);
  names.set(module, name);
  return module;
}

/** Which build a module from `kernelModule` is (see `KernelModuleName`). */
export function kernelModuleName(module: WebAssembly.Module): KernelModuleName {
  return names.get(module) ?? 'wasm-simd';
}

/** Instantiates the kernel over `memory` (the module imports `env.memory`). */
export async function instantiateKernel(module: WebAssembly.Module, memory: WebAssembly.Memory): Promise<KernelExports> {
  const instance = await WebAssembly.instantiate(module, { env: { memory } });
  return instance.exports as unknown as KernelExports;
}
