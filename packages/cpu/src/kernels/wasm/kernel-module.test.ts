import { describe, expect, it } from 'vitest';
import { PLAIN_RELAXED_KERNEL_BASE64, SHARED_RELAXED_KERNEL_BASE64 } from './generated/kernel-wasm.js';
import { hasRelaxedSimd, kernelModule, kernelModuleName } from './kernel-module.js';

const bytes = (base64: string) => Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));

describe('kernel module selection', () => {
  it('detects relaxed SIMD exactly where the relaxed builds validate', () => {
    // The one-instruction probe must not claim support the full module lacks, nor miss it.
    expect(WebAssembly.validate(bytes(PLAIN_RELAXED_KERNEL_BASE64))).toBe(hasRelaxedSimd());
    expect(WebAssembly.validate(bytes(SHARED_RELAXED_KERNEL_BASE64))).toBe(hasRelaxedSimd());
  });

  it('names the build it compiled: relaxed SIMD where the engine has it, plain SIMD otherwise', async () => {
    const module = await kernelModule(false);
    expect(module).toBeDefined();
    expect(kernelModuleName(module as WebAssembly.Module)).toBe(hasRelaxedSimd() ? 'wasm-relaxed-simd' : 'wasm-simd');
  });
});
