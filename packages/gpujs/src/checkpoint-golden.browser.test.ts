import { afterAll, describe, it } from 'vitest';
import { goldenCheckpointCases } from './checkpoint-golden.cases.js';
import { gpujsTarget } from './testing/gpujs-target.js';

// WebGL2 on SwiftShader, params and gradients as Float32Arrays uploaded by the optimizer.
describe("optimi's golden trajectories continue from an 'optimi' checkpoint on gpujs webgl2", () => {
  const target = gpujsTarget('webgl2');
  afterAll(() => target.close());
  for (const c of goldenCheckpointCases(target, 'webgl2')) it(c.name, c.run);
});
