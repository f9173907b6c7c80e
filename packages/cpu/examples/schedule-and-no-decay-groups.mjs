import { LrScheduler, paramGroupsWeightDecay, StableAdamW, warmupCosine } from '@stable-adamw/cpu';

/** @type {import('@stable-adamw/cpu').CpuParam[]} */
const params = [
  { data: new Float32Array(32 * 16), grad: null, name: 'dense.weight', shape: [32, 16] },
  { data: new Float32Array(32), grad: null, name: 'dense.bias', shape: [32] },
  { data: new Float32Array(32).fill(1), grad: null, name: 'norm.weight', shape: [32] },
];
// Biases and norm scales get weightDecay 0; the weight matrix gets 0.1.
const optimizer = new StableAdamW(paramGroupsWeightDecay(params, { weightDecay: 0.1 }), { lr: 3e-3 });
const scheduler = new LrScheduler(optimizer, warmupCosine(10, 100));

for (let step = 0; step < 100; step++) {
  for (const p of params) p.grad = new Float32Array(p.data.length).fill(0.01); // your backward pass
  optimizer.step();
  scheduler.step();
}
console.log(optimizer.paramGroups.map((g) => [g.weightDecay, g.lr])); // [[0, 0], [0.1, 0]] after the cosine
