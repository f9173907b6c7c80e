import '@tensorflow/tfjs-backend-cpu';
import { conformanceCases } from '@stable-adamw/conformance';
import { tfjsTarget } from '@stable-adamw/tfjs/testing';
import * as tf from '@tensorflow/tfjs-core';

// Any backend works the same way, e.g. 'webgpu' with tfjsTarget('fused') in a browser.
await tf.setBackend('cpu');
const cases = conformanceCases(tfjsTarget('auto'), { steps: 5 });
for (const c of cases) await c.run();
console.log(`${cases.length} conformance cases passed on tfjs-${tf.getBackend()}`);
