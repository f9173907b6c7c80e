import type { Dtype } from '@stable-adamw/core';
import type { ConformanceTarget } from '@stable-adamw/core/testing';
import { cpuTarget } from '@stable-adamw/cpu/testing';
import { type GpuJsTargetMode, gpujsTarget } from '@stable-adamw/gpujs/testing';

/** A backend the parity app can run scenarios on. */
export interface ParityBackend {
  /** Report id, `<adapter>-<backend or dtype>`: `cpu-f32`, `tfjs-webgl`, `gpujs-webgpu`. */
  readonly id: string;
  /** The storage dtype its scenarios use. */
  readonly dtype: Dtype;
  /** Sets the backend up; resolves to a target, or rejects with why it is unavailable here. */
  open(): Promise<ConformanceTarget>;
  /** Releases what `open` set up. */
  close?(): Promise<void>;
}

export function cpu(id: string, dtype: Dtype): ParityBackend {
  const target = cpuTarget('bits');
  return { id, dtype, open: async () => ({ ...target, id, dtypes: [dtype] }) };
}

/** A gpu.js mode (float32 storage); `close` destroys its gpu.js instance. */
export function gpujs(mode: GpuJsTargetMode): ParityBackend {
  const target = gpujsTarget(mode);
  return {
    id: `gpujs-${mode}`,
    dtype: 'float32',
    open: async () => ({ ...target, id: `gpujs-${mode}` }),
    close: () => target.close(),
  };
}

/** Backends that run in this Node process. */
export function nodeBackends(): ParityBackend[] {
  return [
    cpu('cpu-f64', 'float64'),
    cpu('cpu-f32', 'float32'),
    cpu('cpu-bf16', 'bfloat16'),
    cpu('cpu-f16', 'float16'),
    gpujs('cpu'),
    gpujs('webasm'),
  ];
}
