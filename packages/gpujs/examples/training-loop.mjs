import { isDeviceTensor, LrScheduler, paramGroupsWeightDecay, StableAdamW, warmupCosine } from '@stable-adamw/gpujs';
import { GPU } from 'gpu.js';

// Fit y = 2·x0 − x1 + 0.5 on the device with gradient release, 2 micro-batches per update, a
// warmup-cosine schedule and no weight decay for the bias.
const gpu = new GPU();
/** @typedef {import('@stable-adamw/gpujs').GpuJsTensor} GpuJsTensor */
/** @param {GpuJsTensor} tensor */
const free = (tensor) => isDeviceTensor(tensor) && tensor.delete();
const weight = { data: new Float32Array(2), name: 'dense.weight', shape: [1, 2] };
const bias = { data: new Float32Array(1), name: 'dense.bias', shape: [1] };
const kernel = /** @type {const} */ ({ pipeline: true, immutable: true, precision: 'single' });

// Forward: the residual of each of a micro-batch's 4 samples (the activation backprop keeps).
const residual = gpu.createKernel(
  /** @this {import('gpu.js').IKernelFunctionThis} @param {number[]} w @param {number[]} b @param {number} batch */
  function (w, b, batch) {
    const s = batch * 4 + this.thread.x;
    const x0 = s / 4 - 1;
    const x1 = ((s * 3) % 8) / 4 - 1;
    return w[0] * x0 + w[1] * x1 + b[0] - (2 * x0 - x1 + 0.5);
  },
  { ...kernel, output: [4] },
);
// Backward: each gradient comes from the residual alone, so stepping one param cannot change another's.
const weightGrad = gpu.createKernel(
  /** @this {import('gpu.js').IKernelFunctionThis} @param {number[]} err @param {number} batch */
  function (err, batch) {
    let grad = 0;
    for (let i = 0; i < 4; i++) {
      const s = batch * 4 + i;
      let x = s / 4 - 1;
      if (this.thread.x === 1) {
        x = ((s * 3) % 8) / 4 - 1;
      }
      grad += (err[i] * x) / 2;
    }
    return grad;
  },
  { ...kernel, output: [2] },
);
/** @param {number[]} err */
function sumOverBatch(err) {
  let grad = 0;
  for (let i = 0; i < 4; i++) {
    grad += err[i] / 2;
  }
  return grad;
}
const biasGrad = gpu.createKernel(sumOverBatch, { ...kernel, output: [1] });

// Biases and other 1-D params get weightDecay 0, the weight matrix 1e-4.
const groups = paramGroupsWeightDecay([weight, bias], { weightDecay: 1e-4 });
const optimizer = new StableAdamW(groups, { gpu, lr: 0.05, gradientRelease: true });
const updates = 300;
const scheduler = new LrScheduler(optimizer, warmupCosine(20, updates));

for (let update = 0; update < updates; update++) {
  for (const batch of [0, 1]) {
    // Moment-only calls for the first micro-batch; the last one applies the update.
    optimizer.accumulate = batch === 0;
    const err = /** @type {GpuJsTensor} */ (await residual(weight.data, bias.data, batch));
    // Gradient release, last layer first: each gradient is stepped and freed as soon as it exists.
    const gb = /** @type {GpuJsTensor} */ (await biasGrad(err));
    await optimizer.stepParam(bias, gb);
    free(gb);
    const gw = /** @type {GpuJsTensor} */ (await weightGrad(err, batch));
    await optimizer.stepParam(weight, gw);
    free(gw);
    free(err);
  }
  scheduler.step(); // after full updates only
}
console.log(await optimizer.readParams()); // ≈ [[0.5], [2, −1]]: flat order across groups, the no-decay group first

await optimizer.dispose();
for (const k of [residual, weightGrad, biasGrad]) k.destroy();
