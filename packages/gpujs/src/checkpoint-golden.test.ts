import { afterAll, describe, it } from 'vitest';
import { goldenCheckpointCases } from './checkpoint-golden.cases.js';
import { gpujsTarget } from './testing/gpujs-target.js';

// Node runs gpu.js's cpu and webasm modes; webgl2 runs in checkpoint-golden.browser.test.ts.
for (const mode of ['cpu', 'webasm'] as const) {
  describe(`optimi's golden trajectories continue from an 'optimi' checkpoint on gpujs ${mode}`, () => {
    const target = gpujsTarget(mode);
    afterAll(() => target.close());
    for (const c of goldenCheckpointCases(target, mode)) it(c.name, c.run);
  });
}
