import { isDeviceTensor, StableAdamW } from '@stable-adamw/gpujs';
import { GPU } from 'gpu.js';

// Gradients handed to step() as a Map (params missing from it are skipped) instead of via `.grad`.
// Minimises ½‖a − 2‖² + ½‖b + 1‖²; ∂/∂θ = θ − target, computed on the device.
const gpu = new GPU();
/** @typedef {import('@stable-adamw/gpujs').GpuJsTensor} GpuJsTensor */
const a = { data: new Float32Array([0, 0]), name: 'a' };
const b = { data: new Float32Array([0]), name: 'b' };
/** @param {number} n */
const gradient = (n) =>
  gpu.createKernel(
    /** @this {import('gpu.js').IKernelFunctionThis} @param {number[]} p @param {number} target */
    function (p, target) {
      return p[this.thread.x] - target;
    },
    { output: [n], pipeline: true, immutable: true, precision: 'single' },
  );
const [gradA, gradB] = [gradient(2), gradient(1)];
const optimizer = new StableAdamW([a, b], { gpu, lr: 0.05, weightDecay: 0 });

for (let step = 0; step < 300; step++) {
  const grads = new Map([
    [a, /** @type {GpuJsTensor} */ (await gradA(a.data, 2))],
    [b, /** @type {GpuJsTensor} */ (await gradB(b.data, -1))],
  ]);
  await optimizer.step(grads);
  for (const g of grads.values()) if (isDeviceTensor(g)) g.delete(); // still yours to free
}
console.log(await optimizer.readParams()); // ≈ [[2, 2], [−1]]

await optimizer.dispose();
gradA.destroy();
gradB.destroy();
