import { cpuTarget } from '@stable-adamw/cpu/testing';
import type { ParityBackend } from '../backends.js';

/** Backends that run inside the page (bundled into the browser entry). */
export function browserBackends(): ParityBackend[] {
  const cpu = cpuTarget('bits');
  return [
    { id: 'cpu-f32-browser', dtype: 'float32', open: async () => ({ ...cpu, id: 'cpu-f32-browser', dtypes: ['float32'] }) },
  ];
}
