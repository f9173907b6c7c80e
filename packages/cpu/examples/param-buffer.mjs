import { createParamBuffer, StableAdamW } from '@stable-adamw/cpu';

// Two tensors in one flat buffer; the optimizer runs one WebAssembly SIMD call per phase for both.
const buffer = await createParamBuffer(
  [
    { name: 'layer.weight', shape: [4, 3], init: new Float32Array(12).fill(0.5) },
    { name: 'layer.bias', shape: [4] },
  ],
  { dtype: 'float32' },
);
const [weight, bias] = buffer.params;
const optimizer = new StableAdamW(buffer.params, { lr: 1e-2 });

for (let step = 0; step < 3; step++) {
  // Your backward pass writes into the gradient views (param.grad is a view into the buffer).
  buffer.gradOf(weight).fill(0.1);
  buffer.gradOf(bias).fill(-0.2);
  optimizer.step(); // synchronous with threads: 1
}
console.log(buffer.kernel, weight.data[0], bias.data[0]); // 'wasm-simd', ≈ 0.47, ≈ 0.03
await buffer.dispose();
