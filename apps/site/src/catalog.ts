import type { Detection } from './detect.js';

/** The packages a visitor can install, as the root README's "Which package?" table names them. */
export type PackageName = '@stable-adamw/cpu' | '@stable-adamw/tfjs' | '@stable-adamw/gpujs';

/** One backend the page measures: which package runs it, how to install it and what it needs. */
export interface CatalogEntry {
  /** Row id, as in the parity and bench reports: `cpu-wasm`, `tfjs-webgpu`, `gpujs-webgl2`. */
  id: string;
  pkg: PackageName;
  /** The `npm i` line for this backend (the package, its backend library and the tfjs backend it uses). */
  install: string;
  /** What it computes on, in words. */
  kind: string;
  /** Why it cannot run in this browser (undefined: it can be tried). */
  missing(d: Detection): string | undefined;
  /** What it will run on here, e.g. `WebGPU: Apple M2 (metal-3)`. */
  runsOn(d: Detection): string;
}

const TFJS = 'npm i @stable-adamw/tfjs @tensorflow/tfjs-core';
const cpuName = (d: Detection) => `the CPU (${d.hardwareConcurrency} logical cores reported)`;
const gpuName = (d: Detection) => `WebGPU: ${d.webgpu.adapter ?? 'adapter'}`;
const glName = (d: Detection) => `WebGL2: ${d.webgl2.renderer ?? 'renderer hidden'}`;

const noWebgpu = (d: Detection) => (d.webgpu.available ? undefined : `no WebGPU adapter (${d.webgpu.reason})`);
const noWebgl2 = (d: Detection) => {
  if (!d.webgl2.available) return 'no WebGL2 context';
  return d.webgl2.floatTextures ? undefined : 'WebGL2 without float render targets (EXT_color_buffer_float)';
};
const noSimd = (d: Detection) => (d.wasm.simd ? undefined : 'this browser has no WebAssembly SIMD');

/** Threads the threaded cpu-wasm row uses: the reported cores, at most 8 (0: no threaded row). */
export function wasmThreads(d: Detection): number {
  if (!d.wasm.threads) return 0;
  const n = Math.min(d.hardwareConcurrency, 8);
  return n >= 2 ? n : 0;
}

/**
 * Every backend the page knows, in the order it runs them. The threaded cpu-wasm row appears only
 * where threads exist (its id carries the thread count, as the bench's `cpu-wasm-2t` does).
 */
export function catalog(d: Detection): CatalogEntry[] {
  const threads = wasmThreads(d);
  const entries: CatalogEntry[] = [
    {
      id: 'cpu-js',
      pkg: '@stable-adamw/cpu',
      install: 'npm i @stable-adamw/cpu',
      kind: 'typed arrays, plain JavaScript',
      missing: () => undefined,
      runsOn: (d) => `${cpuName(d)}, 1 thread`,
    },
    {
      id: 'cpu-wasm',
      pkg: '@stable-adamw/cpu',
      install: 'npm i @stable-adamw/cpu',
      kind: 'WebAssembly SIMD kernels over a flat buffer',
      missing: noSimd,
      runsOn: (d) => `${cpuName(d)}, 1 thread`,
    },
  ];
  if (threads > 0) {
    entries.push({
      id: `cpu-wasm-${threads}t`,
      pkg: '@stable-adamw/cpu',
      install: 'npm i @stable-adamw/cpu',
      kind: `WebAssembly SIMD kernels on ${threads} worker threads`,
      missing: noSimd,
      runsOn: (d) => `${cpuName(d)}, ${threads} threads`,
    });
  }
  entries.push(
    {
      id: 'tfjs-webgpu',
      pkg: '@stable-adamw/tfjs',
      install: `${TFJS} @tensorflow/tfjs-backend-webgpu`,
      kind: 'tfjs, fused multi-tensor WebGPU kernel',
      missing: noWebgpu,
      runsOn: gpuName,
    },
    {
      id: 'tfjs-webgl',
      pkg: '@stable-adamw/tfjs',
      install: `${TFJS} @tensorflow/tfjs-backend-webgl`,
      kind: 'tfjs, fused WebGL kernel',
      missing: noWebgl2,
      runsOn: glName,
    },
    {
      id: 'tfjs-wasm',
      pkg: '@stable-adamw/tfjs',
      install: `${TFJS} @tensorflow/tfjs-backend-wasm`,
      kind: 'tfjs, composed ops on the WebAssembly backend',
      missing: () => undefined,
      runsOn: (d) => `${cpuName(d)}, WebAssembly${d.wasm.simd ? ' SIMD' : ''}`,
    },
    {
      id: 'tfjs-cpu',
      pkg: '@stable-adamw/tfjs',
      install: `${TFJS} @tensorflow/tfjs-backend-cpu`,
      kind: 'tfjs, composed ops on the plain-JavaScript backend',
      missing: () => undefined,
      runsOn: (d) => `${cpuName(d)}, 1 thread`,
    },
    {
      id: 'gpujs-webgpu',
      pkg: '@stable-adamw/gpujs',
      install: 'npm i @stable-adamw/gpujs gpu.js',
      kind: 'gpu.js, device-resident kernels',
      missing: noWebgpu,
      runsOn: gpuName,
    },
    {
      id: 'gpujs-webgl2',
      pkg: '@stable-adamw/gpujs',
      install: 'npm i @stable-adamw/gpujs gpu.js',
      kind: 'gpu.js, device-resident kernels',
      missing: noWebgl2,
      runsOn: glName,
    },
  );
  return entries;
}
