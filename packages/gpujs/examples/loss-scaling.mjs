import { DynamicLossScaler, isDeviceTensor, StableAdamW } from '@stable-adamw/gpujs';
import { GPU } from 'gpu.js';

// Fit y = 3x − 1 with a loss scaler. The backward kernel multiplies its gradient by the loss scale,
// which it takes from the optimizer as a tensor (element 0); at step 5 an outlier input (x = 10^20)
// overflows float32 to −Inf. The optimizer finds it on the device, skips that step (nothing
// changes) and halves the scale; on every other step its kernels divide the gradient by the scale
// as they read it. Nothing is read back until settled().
const gpu = new GPU();
/** @type {import('@stable-adamw/gpujs').GpuJsParam} */
const line = { data: new Float32Array([0, 0]), name: 'slope and intercept' };
const backward = gpu.createKernel(
  /** @this {import('gpu.js').IKernelFunctionThis} @param {number[]} p @param {number[]} scale @param {number} outlier */
  function (p, scale, outlier) {
    let grad = 0;
    for (let i = 0; i < 5; i++) {
      const x = (-1 + 0.5 * i) * (i === 4 ? outlier : 1);
      const error = p[0] * x + p[1] - (3 * x - 1);
      if (this.thread.x === 0) {
        grad += (2 * error * x) / 5;
      } else {
        grad += (2 * error) / 5;
      }
    }
    return grad * scale[0];
  },
  { output: [2], pipeline: true, immutable: true, precision: 'single' },
);
const lossScaler = new DynamicLossScaler(); // 2^16; ×0.5 on overflow, ×2 after 2000 clean steps
const optimizer = new StableAdamW([line], { gpu, lr: 0.05, weightDecay: 0, lossScaler }); // nonFinite: 'skip'

for (let step = 0; step < 300; step++) {
  if (isDeviceTensor(line.grad)) line.grad.delete();
  const scale = await optimizer.lossScaleTensor(); // on the device on webgl2/webgpu: no readback
  line.grad = /** @type {import('gpu.js').Texture} */ (await backward(line.data, scale, step === 5 ? 1e20 : 1));
  await optimizer.step(); // webgl2/webgpu: skipped or not, decided on the device
}
await optimizer.settled(); // one small read: skippedSteps and lossScaler.scale are current
const [fitted] = await optimizer.readParams();
console.log(fitted, optimizer.skippedSteps, lossScaler.scale); // ≈ [3, −1], 1, 32768

if (isDeviceTensor(line.grad)) line.grad.delete();
await optimizer.dispose();
backward.destroy();
