import { StableAdamW } from '@stable-adamw/cpu';

// Fit y = 3x − 1 with two scalar params; the gradients come from your own backward pass.
/** @type {import('@stable-adamw/cpu').CpuParam} */
const weight = { data: new Float32Array([0]), grad: null, name: 'weight' };
/** @type {import('@stable-adamw/cpu').CpuParam} */
const bias = { data: new Float32Array([0]), grad: null, name: 'bias' };
const optimizer = new StableAdamW([weight, bias], { lr: 0.05, weightDecay: 0 });

const xs = [-1, -0.5, 0, 0.5, 1];
for (let epoch = 0; epoch < 300; epoch++) {
  let gw = 0;
  let gb = 0;
  for (const x of xs) {
    const error = weight.data[0] * x + bias.data[0] - (3 * x - 1);
    gw += (2 * error * x) / xs.length;
    gb += (2 * error) / xs.length;
  }
  weight.grad = new Float32Array([gw]);
  bias.grad = new Float32Array([gb]);
  optimizer.step();
}
for (const group of optimizer.paramGroups) group.lr = 5e-4; // schedulers edit paramGroups between steps
// Save as JSON. stateDict() is a Promise on tfjs and gpu.js: awaiting it works on every adapter.
const checkpoint = JSON.stringify(await optimizer.stateDict());
console.log(weight.data[0], bias.data[0], checkpoint.length); // ≈ 3, ≈ −1, the JSON's length
