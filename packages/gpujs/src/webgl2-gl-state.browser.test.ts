import { ReferenceStableAdamW, resolveOptions } from '@stable-adamw/core/adapter';
import { GPU, type IKernelFunctionThis } from 'gpu.js';
import { describe, expect, it } from 'vitest';
import type { GpuJsParam } from './param.js';
import { StableAdamW } from './stable-adamw.js';
import { type GpuJsTensor, isDeviceTensor } from './tensor.js';
import { uploader } from './testing/uploader.js';
import { PACKED_MAX } from './webgl2-pack.js';
import { WebGL2Programs } from './webgl2-step.js';

// The `webgl2-programs` path shares gpu.js's context: kernels the caller builds, runs and destroys
// between steps (of other output sizes, which resize gpu.js's canvas and viewport) must not change
// what a step computes, and the path's draws must not change what the caller's kernels compute.

const OPTIONS = { lr: 0.01, weightDecay: 0.01 };
/** Both sides of PACKED_MAX, one past the sizes gpu.js has laid out when the first step runs. */
const SIZES = [300, 5000, 70_000];

function values(n: number, seed: number, scale: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => (Math.sin(seed * 12.9898 + i * 78.233) * 0.9 + 0.05) * scale);
}

/** One optimizer over `SIZES` with the caller's texture gradients (every third one's clipping), and its float64 reference. */
function model(gpu: GPU, kernel: 'auto' | 'per-tensor', host = false) {
  const { upload, destroy } = uploader(gpu);
  const init = SIZES.map((n, i) => values(n, 100 + i, 1));
  const params: GpuJsParam[] = init.map((data) => ({ data: Float32Array.from(data) }));
  const opt = new StableAdamW(params, { gpu, kernel, ...OPTIONS });
  const all = SIZES.map((_, i) => i);
  const reference = new ReferenceStableAdamW(init, [{ params: all, hyperparameters: resolveOptions(OPTIONS) }], 'float32');
  let seed = 0;
  const step = async () => {
    seed += 1;
    const grads = SIZES.map((n, i) => values(n, seed * 1000 + i, i % 3 === 0 ? 10 ** seed : 0.5));
    for (const [i, p] of params.entries()) {
      if (isDeviceTensor(p.grad)) p.grad.delete();
      p.grad = host ? Float32Array.from(grads[i] as Float32Array) : await upload(grads[i] as Float32Array);
    }
    opt.step();
    reference.step(grads);
  };
  const read = () => Promise.all(params.map((p) => opt.readParam(p)));
  const maxError = async () => {
    let max = 0;
    (await read()).forEach((p, i) => {
      const want = reference.params[i] as Float64Array;
      p.forEach((x, j) => {
        max = Math.max(max, Math.abs(x - (want[j] as number)) / Math.max(1, Math.abs(want[j] as number)));
      });
    });
    return max;
  };
  const close = async () => {
    await opt.dispose();
    destroy();
  };
  return { opt, step, read, maxError, close };
}

/**
 * A new kernel of the caller's over `n` elements, built and run once (`2a + 1`, read back or as a
 * texture read back), and destroyed if `destroy`.
 */
function callerKernel(gpu: GPU, n: number, pipeline: boolean, destroy = false) {
  const input = values(n, n, 1);
  const kernel = gpu.createKernel(
    function (this: IKernelFunctionThis, a: number[]): number {
      return (a[this.thread.x] as number) * 2 + 1;
    },
    { output: [n], pipeline, precision: 'single', tactic: 'precision' },
  );
  const out = kernel(input) as Float32Array | GpuJsTensor;
  const got = pipeline
    ? ((out as unknown as { toArray(): Float32Array }).toArray() as Float32Array)
    : Float32Array.from(out as Float32Array);
  if (pipeline) (out as unknown as { delete(): void }).delete();
  if (destroy) kernel.destroy();
  return { kernel, input, got, want: Float32Array.from(input, (x) => Math.fround(x * 2 + 1)) };
}

describe('gpujs webgl2: GL state shared with the caller’s kernels', () => {
  for (const packedMax of [PACKED_MAX, 0]) {
    it(`steps as the float64 reference and gpu.js's kernels when the caller builds and runs kernels between steps (packedMax ${packedMax})`, async () => {
      const gpu = new GPU({ mode: 'webgl2' });
      const ours = model(gpu, 'auto');
      const perTensor = model(gpu, 'per-tensor');
      const kernels: { destroy(): void }[] = [];
      WebGL2Programs.packedMax = packedMax;
      try {
        // New kernels of sizes gpu.js has not laid out yet, smaller and larger than the model's.
        const between: [number, boolean][] = [
          [7, false],
          [200_000, false],
          [33, true],
          [90_000, true],
          [1234, false],
        ];
        await ours.step();
        await perTensor.step();
        for (const [n, pipeline] of between) {
          const caller = callerKernel(gpu, n, pipeline);
          kernels.push(caller.kernel);
          expect(caller.got).toEqual(caller.want);
          await ours.step();
          await perTensor.step();
          expect(ours.opt.kernelPath).toBe('webgl2-programs');
          expect(await ours.maxError()).toBeLessThan(2e-6);
          expect(await perTensor.maxError()).toBeLessThan(2e-6);
          const [a, b] = [await ours.read(), await perTensor.read()];
          a.forEach((p, i) => {
            const q = b[i] as Float32Array;
            let max = 0;
            p.forEach((x, j) => {
              max = Math.max(max, Math.abs(x - (q[j] as number)));
            });
            expect(max).toBeLessThan(2e-6);
          });
          // The caller's kernels, right after our step, still compute what they should.
          const after = callerKernel(gpu, n + 1, !pipeline);
          kernels.push(after.kernel);
          expect(after.got).toEqual(after.want);
        }
      } finally {
        WebGL2Programs.packedMax = PACKED_MAX;
        for (const kernel of kernels) kernel.destroy();
        await ours.close();
        await perTensor.close();
        await gpu.destroy();
      }
    });
    it(`steps as the float64 reference when the caller destroys the kernel it built last, and mends the caller's kernels (packedMax ${packedMax})`, async () => {
      // Host gradients: the step uploads them with gpu.js kernels of its own, which draw with the
      // vertex attributes of the kernel built last. Destroying it deletes the quad they point at.
      const gpu = new GPU({ mode: 'webgl2' });
      const ours = model(gpu, 'auto', true);
      WebGL2Programs.packedMax = packedMax;
      const older = callerKernel(gpu, 500, false);
      try {
        await ours.step();
        for (const [n, pipeline] of [
          [7, false],
          [90_000, true],
        ] as const) {
          const caller = callerKernel(gpu, n, pipeline, true);
          expect(caller.got).toEqual(caller.want);
          await ours.step();
          expect(ours.opt.kernelPath).toBe('webgl2-programs');
          expect(await ours.maxError()).toBeLessThan(2e-6);
          // A kernel the caller built before draws again after the step.
          expect(Float32Array.from(older.kernel(older.input) as Float32Array)).toEqual(older.want);
        }
      } finally {
        WebGL2Programs.packedMax = PACKED_MAX;
        older.kernel.destroy();
        await ours.close();
        await gpu.destroy();
      }
    });
  }
});
