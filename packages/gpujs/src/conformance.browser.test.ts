import { conformanceCases } from '@stable-adamw/conformance';
import { afterAll, describe, it } from 'vitest';
import { type GpuJsTargetOptions, gpujsTarget } from './testing/gpujs-target.js';

// SwiftShader emulates the GPU on two cores: 10 steps per generated scenario keeps the suite quick.
const runs: [mode: 'webgl2' | 'webgl' | 'webgpu' | 'async', options: GpuJsTargetOptions][] = [
  ['webgl2', {}],
  ['webgl', {}],
  ['webgpu', {}],
  ['webgl2', { inputs: 'texture' }],
  ['webgpu', { inputs: 'texture' }],
  ['async', {}],
];

for (const [mode, options] of runs) {
  const target = gpujsTarget(mode, options);
  describe(`${target.id} conformance`, () => {
    afterAll(() => target.close());
    for (const c of conformanceCases(target, { steps: 10 })) it(c.name, c.run);
  });
}
