import '@tensorflow/tfjs-backend-cpu';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { conformanceCases } from '@stable-adamw/conformance';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, it } from 'vitest';
import { tfjsTarget } from './testing/tfjs-target.js';

const wasmDir = `${dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm'))}/`;

for (const backend of ['cpu', 'wasm'] as const) {
  for (const kernel of ['fused', 'composed'] as const) {
    describe(`tfjs-${backend} conformance (${kernel} kernels)`, () => {
      beforeAll(async () => {
        if (backend === 'wasm') setWasmPaths(wasmDir);
        await tf.setBackend(backend);
        await tf.ready();
      });
      for (const c of conformanceCases(tfjsTarget(kernel))) it(c.name, c.run);
    });
  }
}
