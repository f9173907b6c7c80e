// What the release test installs and runs in a fresh project, per published package but core: an
// ESM import, a CJS require and a TypeScript check, each doing one optimizer step (the conformance
// package: loading a golden trajectory from its shipped fixtures and replaying it on the reference).

/** @type {Record<string, { install: string[], esm: string, cjs: string, ts: string }>} */
export const SMOKE = {
  '@stable-adamw/cpu': {
    install: [],
    esm: `import { StableAdamW } from '@stable-adamw/cpu';
const p = { data: new Float32Array([1, 2]), grad: new Float32Array([0.5, -0.5]) };
new StableAdamW([p], { lr: 0.1, weightDecay: 0 }).step();
if (!(Math.abs(p.data[0] - 0.9) < 1e-5 && Math.abs(p.data[1] - 2.1) < 1e-5)) throw new Error('cpu ESM step: ' + p.data);
// The WebAssembly SIMD kernels ship inside the tarball: a threaded flat-buffer step.
import { createParamBuffer } from '@stable-adamw/cpu';
const buffer = await createParamBuffer([{ shape: [2], init: [1, 2] }], { threads: 2 });
buffer.grads.set([0.5, -0.5]);
await new StableAdamW(buffer.params, { lr: 0.1, weightDecay: 0 }).step();
const w = buffer.params[0].data;
await buffer.dispose();
if (!(Math.abs(w[0] - 0.9) < 1e-5 && Math.abs(w[1] - 2.1) < 1e-5)) throw new Error('cpu ESM wasm step: ' + w);
console.log('cpu esm ok');`,
    cjs: `const { StableAdamW } = require('@stable-adamw/cpu');
const p = { data: new Float32Array([1]), grad: new Float32Array([1]) };
new StableAdamW([p], { lr: 0.1, weightDecay: 0 }).step();
if (!(Math.abs(p.data[0] - 0.9) < 1e-5)) throw new Error('cpu CJS step: ' + p.data);
console.log('cpu cjs ok');`,
    ts: `import { StableAdamW, type CpuParam, type StateDict } from '@stable-adamw/cpu';
const p: CpuParam = { data: new Float32Array([1]), grad: new Float32Array([1]) };
const opt = new StableAdamW([p], { lr: 0.1 });
opt.step();
const sd: StateDict = opt.stateDict();
export const step: number = sd.param_groups[0]?.step ?? 0;`,
  },
  '@stable-adamw/tfjs': {
    install: ['@tensorflow/tfjs-core@4.22.0', '@tensorflow/tfjs-backend-cpu@4.22.0'],
    esm: `import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { StableAdamW } from '@stable-adamw/tfjs';
await tf.setBackend('cpu');
const w = tf.variable(tf.tensor1d([1, 2]), true, 'w');
const opt = new StableAdamW([w], { lr: 0.1, weightDecay: 0 });
opt.applyGradients({ w: tf.tensor1d([0.5, -0.5]) });
const v = await w.data();
if (!(Math.abs(v[0] - 0.9) < 1e-5 && Math.abs(v[1] - 2.1) < 1e-5)) throw new Error('tfjs ESM step: ' + v);
console.log('tfjs esm ok');`,
    cjs: `require('@tensorflow/tfjs-backend-cpu');
const tf = require('@tensorflow/tfjs-core');
const { stableAdamW } = require('@stable-adamw/tfjs');
tf.setBackend('cpu').then(async () => {
  const w = tf.variable(tf.tensor1d([1]), true, 'w');
  stableAdamW({ lr: 0.1, weightDecay: 0 }).applyGradients({ w: tf.tensor1d([1]) });
  const v = await w.data();
  if (!(Math.abs(v[0] - 0.9) < 1e-5)) throw new Error('tfjs CJS step: ' + v);
  console.log('tfjs cjs ok');
});`,
    ts: `import * as tf from '@tensorflow/tfjs-core';
import { StableAdamW, type TfjsStableAdamWOptions } from '@stable-adamw/tfjs';
const options: TfjsStableAdamWOptions = { lr: 1e-3, kernel: 'auto' };
const w = tf.variable(tf.zeros([2]), true, 'w');
const opt: tf.Optimizer = new StableAdamW([w], options);
export const iterations: number = opt.iterations;`,
  },
  '@stable-adamw/gpujs': {
    install: ['gpu.js@2.24.1'],
    esm: `import { GPU } from 'gpu.js';
import { StableAdamW } from '@stable-adamw/gpujs';
const gpu = new GPU({ mode: 'cpu' });
const p = { data: new Float32Array([1, 2]), grad: new Float32Array([0.5, -0.5]) };
const opt = new StableAdamW([p], { gpu, lr: 0.1, weightDecay: 0 });
await opt.step();
const [v] = await opt.readParams();
if (!(Math.abs(v[0] - 0.9) < 1e-5 && Math.abs(v[1] - 2.1) < 1e-5)) throw new Error('gpujs ESM step: ' + v);
console.log('gpujs esm ok');`,
    cjs: `const { GPU } = require('gpu.js');
const { StableAdamW } = require('@stable-adamw/gpujs');
const gpu = new GPU({ mode: 'cpu' });
const p = { data: new Float32Array([1]), grad: new Float32Array([1]) };
const opt = new StableAdamW([p], { gpu, lr: 0.1, weightDecay: 0 });
Promise.resolve(opt.step()).then(() => opt.readParams()).then(([v]) => {
  if (!(Math.abs(v[0] - 0.9) < 1e-5)) throw new Error('gpujs CJS step: ' + v);
  console.log('gpujs cjs ok');
});`,
    ts: `import { GPU } from 'gpu.js';
import { type GpuJsParam, StableAdamW } from '@stable-adamw/gpujs';
const p: GpuJsParam = { data: new Float32Array([1]), grad: new Float32Array([1]) };
const opt = new StableAdamW([p], { gpu: new GPU({ mode: 'cpu' }), lr: 1e-3 });
export const stepped: Promise<void> | void = opt.step();`,
  },
  '@stable-adamw/conformance': {
    install: [],
    esm: `import { loadGoldenScenario, referenceFor, referenceStep } from '@stable-adamw/conformance';
const scenario = await loadGoldenScenario('defaults-f32');
const reference = referenceFor(scenario);
scenario.steps.forEach((_, t) => referenceStep(reference, scenario, t));
if (scenario.steps.length === 0) throw new Error('conformance ESM: empty golden scenario');
console.log('conformance esm ok');`,
    cjs: `const { goldenEntries } = require('@stable-adamw/conformance');
const float64 = goldenEntries.find((e) => e.name === 'float64');
float64.load().then((s) => {
  if (s.dtype !== 'float64' || s.steps.length === 0) throw new Error('conformance CJS: ' + s.dtype);
  console.log('conformance cjs ok');
});`,
    ts: `import { type ConformanceTarget, conformanceCases } from '@stable-adamw/conformance';
declare const target: ConformanceTarget;
export const names: string[] = conformanceCases(target).map((c) => c.name);`,
  },
};
