import { type GpuJsParam, isDeviceTensor, StableAdamW } from '@stable-adamw/gpujs';
import { type GpuJsTargetMode, openGpujsTarget } from '@stable-adamw/gpujs/testing';
import { GPU, type IKernelRunShortcut, type Texture } from 'gpu.js';
import { HYPER } from './scalar-js.js';
import type { BenchSubject, Stepper } from './subject.js';
import { seededValues } from './values.js';

type Mode = Exclude<GpuJsTargetMode, 'gpu' | 'async'>;

const KERNEL = { precision: 'single', tactic: 'precision' } as const;

async function openGpujs(mode: Mode, sizes: readonly number[]): Promise<Stepper> {
  const gpu = new GPU({ mode });
  const kernels: IKernelRunShortcut[] = [];
  const uploads = new Map<number, IKernelRunShortcut>();
  const grads: unknown[] = [];
  let optimizer: StableAdamW | undefined;
  try {
    // Gradients live on the device, as a model's backward kernels would leave them.
    for (const [i, n] of sizes.entries()) {
      let upload = uploads.get(n);
      if (!upload) {
        upload = gpu.createKernel(
          function (this: { thread: { x: number } }, a: number[]): number {
            return a[this.thread.x] as number;
          },
          { ...KERNEL, output: [n], pipeline: true, immutable: true },
        );
        uploads.set(n, upload);
        kernels.push(upload);
      }
      grads.push(await upload(seededValues(n, 2 * i + 2, 1e-2)));
    }
    const params: GpuJsParam[] = sizes.map((n, i) => ({ data: seededValues(n, 2 * i + 1, 1), grad: grads[i] as Texture }));
    const { lr, beta1, beta2, eps, weightDecay } = HYPER;
    optimizer = new StableAdamW(params, { gpu, lr, betas: [beta1, beta2], eps, weightDecay });
    // Reading one element of the first param back waits for the step's queued kernels.
    // (`this.thread.x` is 0 here; a function, not an arrow: gpu.js parses the source.)
    const probe = gpu.createKernel(
      function (this: { thread: { x: number } }, a: number[]): number {
        return a[this.thread.x] as number;
      },
      { ...KERNEL, output: [1] },
    );
    kernels.push(probe);
    const opt = optimizer;
    let launches = 0;
    return {
      detail: opt.kernelPath,
      kernelPath: opt.kernelPath,
      async step() {
        const before = opt.stats.launches;
        await opt.step();
        launches = opt.stats.launches - before;
        // The probe is gpu.js's own kernel, not the optimizer's: not in its stats.
        await probe((params[0] as GpuJsParam).data as Texture);
        const ran = opt.stats.executedModes;
        if (ran.some((m) => m !== mode)) throw new Error(`gpu.js fell back: its kernels ran on ${ran.join(', ')}`);
      },
      dispatches: () => ({ unit: 'gpujs-launch', dispatches: launches }),
      memory: () => ({ deviceTensors: opt.stats.liveTensors, kernels: opt.stats.kernels }),
      close: () => release(),
    };
  } catch (error) {
    await release();
    throw error;
  }
  async function release() {
    await optimizer?.dispose();
    for (const g of grads) if (isDeviceTensor(g)) g.delete();
    for (const k of kernels) k.destroy();
    gpu.destroy();
    return {};
  }
}

/**
 * The gpu.js adapter in one mode (float32, params and state on the device); `prepare` proves the
 * mode runs here (one probe step on that very backend) or rejects with why.
 */
export function gpujsSubject(mode: Mode): BenchSubject {
  return {
    id: `gpujs-${mode}`,
    backend: `gpujs-${mode}`,
    implementation: 'device-resident kernels',
    algorithm: 'stable-adamw',
    threads: 1,
    dtypes: ['float32'],
    dtypeNote: 'the gpu.js adapter is float32 only',
    async prepare() {
      const target = await openGpujsTarget(mode);
      await target.close();
    },
    open: (sizes) => openGpujs(mode, sizes),
  };
}
