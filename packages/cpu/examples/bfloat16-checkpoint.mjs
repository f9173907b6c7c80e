import { numberToBfloat16, StableAdamW } from '@stable-adamw/cpu';

// bfloat16 params are bit patterns in a Uint16Array; Kahan summation is on automatically.
/** @type {import('@stable-adamw/cpu').CpuParam} */
const embedding = {
  data: Uint16Array.from([0.5, -0.25, 1, 2], numberToBfloat16),
  dtype: 'bfloat16',
  grad: null,
  shape: [2, 2],
};
const optimizer = new StableAdamW([{ params: [embedding], weightDecay: 0 }], { lr: 1e-3 });
embedding.grad = new Float32Array([0.1, -0.2, 0.3, -0.4]);
optimizer.step();

// Save as JSON (PyTorch's layout, optimi's keys) and resume in a fresh optimizer. stateDict() is
// synchronous here and a Promise on tfjs and gpu.js: awaiting it works on every adapter.
const saved = JSON.stringify(await optimizer.stateDict());
const resumed = new StableAdamW([{ params: [embedding], weightDecay: 0 }], { lr: 1e-3 });
resumed.loadStateDict(JSON.parse(saved));
console.log(resumed.paramGroups[0].step); // 1
