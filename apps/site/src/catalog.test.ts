import { describe, expect, it } from 'vitest';
import { catalog, wasmThreads } from './catalog.js';
import type { Detection } from './detect.js';

const full: Detection = {
  webgpu: { available: true, adapter: 'nvidia ampere', fallback: false },
  webgl2: { available: true, renderer: 'ANGLE (NVIDIA)', floatTextures: true, maxTextureSize: 16384 },
  wasm: { simd: true, threads: true },
  crossOriginIsolated: true,
  sharedArrayBuffer: true,
  hardwareConcurrency: 16,
  userAgent: 'test',
};

describe('catalog', () => {
  it('offers every backend, the threaded one with the cores (at most 8), each with its install line', () => {
    const entries = catalog(full);
    expect(entries.map((e) => e.id)).toEqual([
      'cpu-js',
      'cpu-wasm',
      'cpu-wasm-8t',
      'tfjs-webgpu',
      'tfjs-webgl',
      'tfjs-wasm',
      'tfjs-cpu',
      'gpujs-webgpu',
      'gpujs-webgl2',
    ]);
    expect(entries.every((e) => e.missing(full) === undefined)).toBe(true);
    const install = Object.fromEntries(entries.map((e) => [e.id, e.install]));
    expect(install['tfjs-webgpu']).toBe('npm i @stable-adamw/tfjs @tensorflow/tfjs-core @tensorflow/tfjs-backend-webgpu');
    expect(install['gpujs-webgl2']).toBe('npm i @stable-adamw/gpujs gpu.js');
    expect(install['cpu-wasm-8t']).toBe('npm i @stable-adamw/cpu');
    expect(entries.find((e) => e.id === 'cpu-wasm-8t')?.runsOn(full)).toBe('the CPU (16 logical cores reported), 8 threads');
  });

  it('says why a backend cannot run: no WebGPU, WebGL2 without float targets, no SIMD, no threads', () => {
    const bare: Detection = {
      ...full,
      webgpu: { available: false, reason: 'navigator.gpu is missing' },
      webgl2: { available: true, floatTextures: false },
      wasm: { simd: false, threads: false },
      hardwareConcurrency: 4,
    };
    const missing = Object.fromEntries(catalog(bare).map((e) => [e.id, e.missing(bare)]));
    expect(missing).toEqual({
      'cpu-js': undefined,
      'cpu-wasm': 'this browser has no WebAssembly SIMD',
      'tfjs-webgpu': 'no WebGPU adapter (navigator.gpu is missing)',
      'tfjs-webgl': 'WebGL2 without float render targets (EXT_color_buffer_float)',
      'tfjs-wasm': undefined,
      'tfjs-cpu': undefined,
      'gpujs-webgpu': 'no WebGPU adapter (navigator.gpu is missing)',
      'gpujs-webgl2': 'WebGL2 without float render targets (EXT_color_buffer_float)',
    });
  });

  it('runs threads only where the page is isolated and has at least 2 cores', () => {
    expect(wasmThreads(full)).toBe(8);
    expect(wasmThreads({ ...full, hardwareConcurrency: 3 })).toBe(3);
    expect(wasmThreads({ ...full, hardwareConcurrency: 1 })).toBe(0);
    expect(wasmThreads({ ...full, wasm: { simd: true, threads: false } })).toBe(0);
  });
});
