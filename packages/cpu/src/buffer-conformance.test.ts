import { conformanceCases } from '@stable-adamw/conformance';
import { describe, it } from 'vitest';
import { cpuBufferTarget } from './testing/buffer-target.js';

describe('ParamBuffer conformance (WebAssembly SIMD, calling thread)', () => {
  for (const c of conformanceCases(cpuBufferTarget())) it(c.name, c.run);
});

describe('ParamBuffer conformance (WebAssembly SIMD, 2 worker threads)', () => {
  for (const c of conformanceCases(cpuBufferTarget({ threads: 2 }))) it(c.name, c.run);
});

describe('ParamBuffer conformance (typed-array kernels on buffer memory)', () => {
  for (const c of conformanceCases(cpuBufferTarget({ kernel: 'js' }))) it(c.name, c.run);
});
