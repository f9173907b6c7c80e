import { StableAdamW } from '@stable-adamw/cpu';

// Fit y = 3x − 1 with two scalar params; the gradients come from your own backward pass.
const weight = { data: new Float32Array([0]), grad: null as Float32Array | null, name: 'weight' };
const bias = { data: new Float32Array([0]), grad: null as Float32Array | null, name: 'bias' };
const optimizer = new StableAdamW([weight, bias], { lr: 0.05, weightDecay: 0 });

const xs = [-1, -0.5, 0, 0.5, 1];
for (let epoch = 0; epoch < 300; epoch++) {
  let gw = 0;
  let gb = 0;
  for (const x of xs) {
    const error = (weight.data[0] ?? 0) * x + (bias.data[0] ?? 0) - (3 * x - 1);
    gw += (2 * error * x) / xs.length;
    gb += (2 * error) / xs.length;
  }
  weight.grad = new Float32Array([gw]);
  bias.grad = new Float32Array([gb]);
  optimizer.step();
}
console.log(weight.data[0], bias.data[0]); // ≈ 3, ≈ −1
