import { isDeviceTensor, StableAdamW } from '@stable-adamw/gpujs';
import { GPU } from 'gpu.js';

// Fit y = 3x − 1 without leaving the device: your gpu.js kernel computes the gradient from the
// param texture, the optimizer consumes it, and only the final values are read back.
const gpu = new GPU(); // webgl2 in browsers; webasm in Node without the optional `gl` addon
/** @type {import('@stable-adamw/gpujs').GpuJsParam} */
const line = { data: new Float32Array([0, 0]), name: 'slope and intercept' };
const backward = gpu.createKernel(
  /** @this {import('gpu.js').IKernelFunctionThis} @param {number[]} p */
  function (p) {
    let grad = 0;
    for (let i = 0; i < 5; i++) {
      const x = -1 + 0.5 * i;
      const error = p[0] * x + p[1] - (3 * x - 1);
      if (this.thread.x === 0) {
        grad += (2 * error * x) / 5;
      } else {
        grad += (2 * error) / 5;
      }
    }
    return grad;
  },
  { output: [2], pipeline: true, immutable: true, precision: 'single' },
);
const optimizer = new StableAdamW([line], { gpu, lr: 0.05, weightDecay: 0 });

for (let step = 0; step < 300; step++) {
  if (isDeviceTensor(line.grad)) line.grad.delete(); // gradients are yours to free
  line.grad = /** @type {import('gpu.js').Texture} */ (await backward(line.data));
  await optimizer.step(); // a promise only on webgpu / async mode; awaiting always works
}
const [fitted] = await optimizer.readParams(); // the one readback
console.log(fitted); // ≈ [3, −1]

if (isDeviceTensor(line.grad)) line.grad.delete();
await optimizer.dispose();
backward.destroy();
