import { createParamBuffer, StableAdamW } from '@stable-adamw/cpu';

// 64 tensors of 8192 bfloat16 values, stepped by 2 worker threads over shared memory.
const buffer = await createParamBuffer(
  Array.from({ length: 64 }, (_, i) => ({ name: `block${i}`, shape: [64, 128] })),
  { dtype: 'bfloat16', threads: 2 },
);
const optimizer = new StableAdamW(buffer.params, { lr: 1e-3 });

buffer.grads.fill(0x3c00); // bfloat16 bits of 0.0078125 for every gradient at once
await optimizer.step(); // threads > 1: step() returns a Promise
optimizer.zeroGrad(); // detaches the gradient views: the next step() would skip every param
buffer.zeroGrads(); // zeroes them and attaches them again
console.log(buffer.threads, buffer.params[0].data[0]); // 2, 47747 (bfloat16 bits of ≈ −0.001)
await buffer.dispose(); // stops the workers
