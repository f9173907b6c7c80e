import { GradientMismatchError, InvalidParamError } from '@stable-adamw/core';
import { GPU, type IKernelFunctionThis, type IKernelRunShortcut } from 'gpu.js';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { GpuJsParam } from './param.js';
import { StableAdamW } from './stable-adamw.js';
import { type GpuJsTensor, isDeviceTensor } from './tensor.js';
import { compareWithCpu } from './testing/compare-with-cpu.js';
import { type BrowserMode, deviceCounters } from './testing/device-counters.js';
import { openGpujsTarget } from './testing/gpujs-target.js';
import { launchesPerStep, vectorLaunchesPerStep } from './testing/launches.js';
import { PACK_DRAWS } from './webgl2-pack.js';

type Mode = BrowserMode;

/** The user's backward pass: ∂/∂θ of ½‖θ − 1‖², computed on the device from the param texture. */
function gradientKernel(gpu: GPU, n: number): IKernelRunShortcut {
  return gpu.createKernel(
    function (this: IKernelFunctionThis, p: number[]): number {
      return (p[this.thread.x] as number) - 1;
    },
    { output: [n], pipeline: true, immutable: true, precision: 'single', tactic: 'precision' },
  );
}

/** The caller's own initialisation kernel: a texture of `value` everywhere. */
function initKernel(gpu: GPU, n: number): IKernelRunShortcut {
  return gpu.createKernel(
    function (this: IKernelFunctionThis, value: number): number {
      return value;
    },
    { output: [n], pipeline: true, immutable: true, precision: 'single', tactic: 'precision' },
  );
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe.each<Mode>(['webgl2', 'webgl', 'webgpu'])('gpujs %s on the device', (mode) => {
  it('matches the cpu adapter step for step, state dicts included, and runs the mode it was asked for', async () => {
    const gpu = new GPU({ mode });
    const result = await compareWithCpu(gpu, { steps: 8 });
    await gpu.destroy();
    expect(result.executedModes).toEqual([mode]);
    expect(result.maxParamError).toBeLessThan(1e-6);
    expect(result.maxStateToleranceRatio).toBeLessThan(1);
  });

  it('reads nothing back while stepping, frees what it replaces, and everything on dispose', async () => {
    const counters = deviceCounters(mode);
    const baseline = counters();
    const gpu = new GPU({ mode });
    const sizes = [5, 300];
    // Params start as the caller's textures, so its backward kernels always see textures.
    const initialize = sizes.map((n) => initKernel(gpu, n));
    const initial = await Promise.all(initialize.map((k) => k(3) as GpuJsTensor | Promise<GpuJsTensor>));
    const params: GpuJsParam[] = initial.map((data) => ({ data }));
    const backward = sizes.map((n) => gradientKernel(gpu, n));
    const opt = new StableAdamW(params, { gpu, lr: 0.1 });
    const train = async (steps: number) => {
      for (let t = 0; t < steps; t++) {
        for (const [i, p] of params.entries()) {
          if (isDeviceTensor(p.grad)) p.grad.delete(); // the caller's own texture, done with
          p.grad = (await (backward[i] as IKernelRunShortcut)(p.data as never)) as GpuJsTensor;
        }
        const done = opt.step();
        expect(done instanceof Promise).toBe(mode === 'webgpu');
        await done;
      }
    };
    await train(3); // compiles every kernel and reaches steady state
    const warm = counters();
    const launches = opt.stats.launches;
    await train(5);
    const after = counters();
    // Texture gradients and device-resident state: no uploads, just the fixed kernels per tensor
    // (GPU modes cannot pack: see the README's "What a step does").
    // WebGPU: three dispatches of the optimizer's own for every tensor (fused-step.ts).
    // WebGL2: one pack of the optimizer's own programs, four draws however many tensors (webgl2-pack.ts).
    expect(opt.kernelPath).toBe({ webgpu: 'webgpu-multi-tensor', webgl2: 'webgl2-programs', webgl: 'per-tensor' }[mode]);
    const perStep =
      mode === 'webgpu' ? 3 : mode === 'webgl2' ? PACK_DRAWS : sizes.reduce((sum, n) => sum + launchesPerStep(n, true), 0);
    expect(opt.stats.launches - launches).toBe(5 * perStep);
    expect(after.readbacks - warm.readbacks).toBe(0);
    expect(after.live - warm.live).toBe(0);
    expect(opt.stats.readbacks).toBe(0);
    expect(opt.stats.liveTensors).toBe(3 * params.length);

    const values = await opt.readParams();
    expect(opt.stats.readbacks).toBe(params.length);
    expect(counters().readbacks - after.readbacks).toBeGreaterThanOrEqual(params.length);
    for (const v of values) for (const x of v) expect(x).toBeLessThan(3); // moved towards 1

    await opt.dispose();
    // Gradients belong to the caller: free them with the kernels that made them.
    for (const p of params) if (isDeviceTensor(p.grad)) p.grad.delete();
    for (const t of initial) if (isDeviceTensor(t)) t.delete();
    for (const k of [...backward, ...initialize]) k.destroy();
    expect(opt.stats.liveTensors).toBe(0);
    expect(counters().live - baseline.live).toBe(0);
    await gpu.destroy();
  });

  it('rejects a tensor past the device limit at construction, naming the limit', () => {
    const gpu = new GPU({ mode });
    const limits = { webgl2: 8192 ** 2, webgl: 2 ** 24, webgpu: 2 ** 25 } as const;
    const big: GpuJsParam = { data: new Float32Array(limits[mode] + 1), name: 'embedding' };
    expect(() => new StableAdamW([big], { gpu, lr: 1e-3 })).toThrow(InvalidParamError);
    expect(() => new StableAdamW([big], { gpu, lr: 1e-3 })).toThrow(
      {
        webgl2: /more than the 67108864 .*maxTextureSize 8192 × 8192 texels\)/,
        webgl: /more than the 16777216 .*capped at 2\^24/,
        webgpu: /more than the 33554432 .*128 MiB per WebGPU storage buffer/,
      }[mode],
    );
  });
});

describe('gpujs webgpu large tensors (kernels of their own, alternating buffers)', () => {
  it('steps like the cpu adapter through state dict swaps and reloads, and frees every buffer on dispose', async () => {
    const counters = deviceCounters('webgpu');
    const baseline = counters();
    const gpu = new GPU({ mode: 'webgpu' });
    // 2^18 + 3: the large-tensor path, with a last quad of three elements.
    const result = await compareWithCpu(gpu, { steps: 6, sizes: [5, 2 ** 18 + 3, 300] });
    expect(result.executedModes).toEqual(['webgpu']);
    expect(result.maxParamError).toBeLessThan(1e-6);
    // Among 2^18 spiky moments a few near 0 land just past optimi's 1e-6 absolute term (1.73 here,
    // the same on webgl2's kernels): float32 rounding, not a different formula.
    expect(result.maxStateToleranceRatio).toBeLessThan(2);
    expect(counters().live - baseline.live).toBe(0);
    await gpu.destroy();
  });

  it('launches five kernels per step for a large tensor, reading nothing back', async () => {
    const counters = deviceCounters('webgpu');
    const gpu = new GPU({ mode: 'webgpu' });
    const n = 2 ** 18;
    const param: GpuJsParam = { data: new Float32Array(n).fill(1) };
    const opt = new StableAdamW([param], { gpu, lr: 0.1, kernel: 'per-tensor' });
    const grad = new Float32Array(n).fill(0.5);
    for (let t = 0; t < 3; t++) {
      param.grad = grad;
      await opt.step();
    }
    const warm = counters();
    const launches = opt.stats.launches;
    for (let t = 0; t < 4; t++) {
      param.grad = grad;
      await opt.step();
    }
    expect(vectorLaunchesPerStep(n)).toBe(5);
    expect(opt.stats.launches - launches).toBe(4 * 5 + 4); // and one upload of the host gradient per step
    expect(counters().readbacks - warm.readbacks).toBe(0);
    expect(opt.stats.liveTensors).toBe(3);
    await opt.dispose();
    await gpu.destroy();
  });
});

describe.each<Mode>(['webgl2', 'webgl'])('gpujs %s packed textures', (mode) => {
  it("refuses gradients from a kernel with precision 'unsigned'", async () => {
    const gpu = new GPU({ mode });
    const packed = gpu.createKernel(
      function (this: IKernelFunctionThis): number {
        return 0.5;
      },
      { output: [4], pipeline: true, precision: 'unsigned' },
    );
    const p: GpuJsParam = { data: new Float32Array(4), grad: packed() as GpuJsTensor };
    const opt = new StableAdamW([p], { gpu, lr: 1e-3 });
    expect(() => opt.step()).toThrow(GradientMismatchError);
    expect(() => opt.step()).toThrow(/precision 'unsigned'/);
    await opt.dispose();
    packed.destroy();
    await gpu.destroy();
  });
});

describe('openGpujsTarget in Chromium', () => {
  it.each<Mode>(['webgl2', 'webgl', 'webgpu'])('opens %s after a probe step on that backend', async (mode) => {
    const target = await openGpujsTarget(mode);
    expect(target.id).toBe(`gpujs-${mode}`);
    await target.close();
  });
});
