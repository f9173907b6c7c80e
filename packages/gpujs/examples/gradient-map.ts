import { type GpuJsParam, type GpuJsTensor, isDeviceTensor, StableAdamW } from '@stable-adamw/gpujs';
import { GPU, type IKernelFunctionThis } from 'gpu.js';

// Gradients handed to step() as a Map (params missing from it are skipped) instead of via `.grad`.
// Minimises ½‖a − 2‖² + ½‖b + 1‖²; ∂/∂θ = θ − target, computed on the device.
const gpu = new GPU();
const a: GpuJsParam = { data: new Float32Array([0, 0]), name: 'a' };
const b: GpuJsParam = { data: new Float32Array([0]), name: 'b' };
const gradient = (n: number) =>
  gpu.createKernel(
    function (this: IKernelFunctionThis, p: number[], target: number): number {
      return (p[this.thread.x] as number) - target;
    },
    { output: [n], pipeline: true, immutable: true, precision: 'single' },
  );
const [gradA, gradB] = [gradient(2), gradient(1)];
const optimizer = new StableAdamW([a, b], { gpu, lr: 0.05, weightDecay: 0 });

for (let step = 0; step < 300; step++) {
  const grads = new Map<GpuJsParam, GpuJsTensor>([
    [a, (await gradA(a.data, 2)) as GpuJsTensor],
    [b, (await gradB(b.data, -1)) as GpuJsTensor],
  ]);
  await optimizer.step(grads);
  for (const g of grads.values()) if (isDeviceTensor(g)) g.delete(); // still yours to free
}
console.log(await optimizer.readParams()); // ≈ [[2, 2], [−1]]

await optimizer.dispose();
gradA.destroy();
gradB.destroy();
