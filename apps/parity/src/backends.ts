import type { ConformanceTarget } from '@stable-adamw/conformance';
import type { Dtype } from '@stable-adamw/core';
import { cpuBufferTarget, cpuTarget } from '@stable-adamw/cpu/testing';
import { type GpuJsTargetMode, openGpujsTarget } from '@stable-adamw/gpujs/testing';
import { tfjsTarget } from '@stable-adamw/tfjs/testing';
import * as tf from '@tensorflow/tfjs-core';

/** A backend the parity app can run scenarios on. */
export interface ParityBackend {
  /** Report id, `<adapter>-<backend or dtype>`: `cpu-f32`, `tfjs-webgl`, `gpujs-webgpu`. */
  readonly id: string;
  /** The storage dtype its scenarios use. */
  readonly dtype: Dtype;
  /** Needs something the user installs on purpose (e.g. tfjs-node): skipping it is never a failure. */
  readonly optional?: boolean;
  /** Sets the backend up; resolves to a target, or rejects with why it is unavailable here (and how to enable it). */
  open(): Promise<ConformanceTarget>;
  /** Releases what `open` set up. */
  close?(): Promise<void>;
}

export function cpu(id: string, dtype: Dtype): ParityBackend {
  const target = cpuTarget('bits');
  return { id, dtype, open: async () => ({ ...target, id, dtypes: [dtype] }) };
}

/** The cpu adapter's WebAssembly SIMD kernels over a flat `ParamBuffer`, on `threads` threads. */
export function cpuWasm(id: string, dtype: Dtype, threads = 1): ParityBackend {
  const target = cpuBufferTarget({ threads });
  return { id, dtype, open: async () => ({ ...target, id, dtypes: [dtype] }) };
}

/** A gpu.js mode (float32); `open` probes that the mode really runs here. */
export function gpujs(mode: GpuJsTargetMode): ParityBackend {
  let close: (() => Promise<void>) | undefined;
  return {
    id: `gpujs-${mode}`,
    dtype: 'float32',
    async open() {
      const target = await openGpujsTarget(mode);
      close = () => target.close();
      return { ...target, id: `gpujs-${mode}` };
    },
    close: () => close?.() ?? Promise.resolve(),
  };
}

/** A tfjs backend (float32); `prepare` registers it, `open` activates it. */
export function tfjs(name: string, prepare: () => Promise<void>, optional = false): ParityBackend {
  return {
    id: `tfjs-${name}`,
    dtype: 'float32',
    optional,
    async open() {
      await prepare();
      if (!(await tf.setBackend(name))) throw new Error(`tfjs backend ${name} failed to initialise`);
      return { ...tfjsTarget('auto'), id: `tfjs-${name}` };
    },
  };
}
