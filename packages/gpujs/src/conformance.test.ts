import { conformanceCases } from '@stable-adamw/conformance';
import { afterAll, describe, it } from 'vitest';
import { gpujsTarget } from './testing/gpujs-target.js';

// Node runs gpu.js's cpu and webasm modes; the GPU modes run in conformance.browser.test.ts.
for (const mode of ['cpu', 'webasm'] as const) {
  describe(`gpujs ${mode} conformance`, () => {
    const target = gpujsTarget(mode);
    afterAll(() => target.close());
    for (const c of conformanceCases(target)) it(c.name, c.run);
  });
}
