import '@tensorflow/tfjs-backend-cpu';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, it } from 'vitest';
import { goldenCheckpointCases } from './checkpoint-golden.cases.js';

const wasmDir = `${dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm'))}/`;

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`optimi's golden trajectories continue from an 'optimi' checkpoint on tfjs-${backend}`, () => {
    beforeAll(async () => {
      if (backend === 'wasm') setWasmPaths(wasmDir);
      await tf.setBackend(backend);
      await tf.ready();
    });
    for (const c of goldenCheckpointCases) it(c.name, c.run);
  });
}
