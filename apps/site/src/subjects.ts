import type { Dtype } from '@stable-adamw/core';
import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreaded from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import { cpuJs } from '../../bench/src/subjects/cpu-js.js';
import { cpuWasmSubject } from '../../bench/src/subjects/cpu-wasm.js';
import { gpujsSubject } from '../../bench/src/subjects/gpujs.js';
import { limited, TFJS_CPU_LIMIT } from '../../bench/src/subjects/limits.js';
import type { BenchSubject } from '../../bench/src/subjects/subject.js';
import { tfjsSubjects } from '../../bench/src/subjects/tfjs.js';
import { cpu, cpuWasm, gpujs, type ParityBackend, tfjs } from '../../parity/src/backends.js';
import { type CatalogEntry, wasmThreads } from './catalog.js';
import type { Detection } from './detect.js';

/** How the page runs one catalog backend: its parity targets (one per storage dtype) and its timed subject. */
export interface BackendRuntime {
  parity: ParityBackend[];
  subject: BenchSubject;
}

// Each tfjs backend registers itself on import; the wasm binaries are bundled assets of this page.
const REGISTER: Record<string, () => Promise<void>> = {
  webgpu: async () => {
    await import('@tensorflow/tfjs-backend-webgpu');
  },
  webgl: async () => {
    await import('@tensorflow/tfjs-backend-webgl');
  },
  cpu: async () => {
    await import('@tensorflow/tfjs-backend-cpu');
  },
  wasm: async () => {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    wasm.setWasmPaths({
      'tfjs-backend-wasm.wasm': wasmPlain,
      'tfjs-backend-wasm-simd.wasm': wasmSimd,
      'tfjs-backend-wasm-threaded-simd.wasm': wasmThreaded,
    });
  },
};

/** `subject` with a note that its GPU is emulated, when the detected adapter or renderer is SwiftShader. */
function noteEmulation(subject: BenchSubject, d: Detection): BenchSubject {
  const gpu = subject.id.includes('webgpu')
    ? `${d.webgpu.adapter ?? ''}${d.webgpu.fallback ? ' fallback' : ''}`
    : subject.id.includes('webgl')
      ? (d.webgl2.renderer ?? '')
      : '';
  if (!/swiftshader|fallback/i.test(gpu)) return subject;
  return { ...subject, note: 'SwiftShader: a CPU emulation of the GPU, so this row checks the path runs, not GPU speed' };
}

function both(make: (dtype: Dtype) => ParityBackend): ParityBackend[] {
  return [make('float32'), make('bfloat16')];
}

/** The parity targets and the timed subject of a catalog backend (the apps' own factories). */
export function runtimeFor(entry: CatalogEntry, d: Detection): BackendRuntime {
  if (entry.id === 'cpu-js') return { parity: both((t) => cpu(entry.id, t)), subject: cpuJs };
  if (entry.id.startsWith('cpu-wasm')) {
    const threads = entry.id === 'cpu-wasm' ? 1 : wasmThreads(d);
    return { parity: both((t) => cpuWasm(entry.id, t, threads)), subject: cpuWasmSubject(threads) };
  }
  if (entry.id.startsWith('tfjs-')) {
    const name = entry.id.slice('tfjs-'.length);
    const register = REGISTER[name];
    if (!register) throw new Error(`no tfjs backend registration for ${entry.id}`);
    const subject = tfjsSubjects(name, register)[0] as BenchSubject;
    return {
      parity: [tfjs(name, register)],
      subject: noteEmulation(name === 'cpu' ? limited(subject, TFJS_CPU_LIMIT) : subject, d),
    };
  }
  const mode = entry.id.slice('gpujs-'.length) as 'webgl2' | 'webgpu';
  return { parity: [gpujs(mode)], subject: noteEmulation(gpujsSubject(mode), d) };
}
