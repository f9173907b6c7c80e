import { compareValues, referenceTolerances, withinTolerance } from '@stable-adamw/conformance';
import { DynamicLossScaler, type DynamicLossScalerOptions, UnsupportedBackendError } from '@stable-adamw/core';
import { ReferenceStableAdamW, resolveOptions } from '@stable-adamw/core/adapter';
import { GPU, type IKernelFunctionThis } from 'gpu.js';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { GpuJsParam } from './param.js';
import { StableAdamW } from './stable-adamw.js';
import type { GpuJsTensor } from './tensor.js';
import { deviceCounters } from './testing/device-counters.js';
import { reductionLaunches } from './testing/launches.js';

// nonFinite: 'skip' decided on the device (webgl2, webgpu in Chromium's SwiftShader): a whole run
// reads nothing back until settled(), and then matches the float64 reference and core's scaler.
afterEach(() => {
  vi.restoreAllMocks();
});

const SETTINGS = { pipeline: true, immutable: true, precision: 'single', tactic: 'precision' } as const;
const SIZES = [5, 300];

function values(n: number, seed: number): number[] {
  return Array.from({ length: n }, (_, i) => Math.sin(seed * 12.9898 + i * 78.233) * 0.9 + 0.05 * seed);
}

/** The caller's backward pass: gradient × the optimizer's device loss scale (element 0 of `scale`). */
function scaledGradKernel(gpu: GPU, n: number) {
  return gpu.createKernel(
    function (this: IKernelFunctionThis, g: number[], scale: number[]): number {
      return (g[this.thread.x] as number) * (scale[0] as number);
    },
    { ...SETTINGS, output: [n] },
  );
}

/** Relative distance of two arrays, for moments. */
function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i] as number;
    worst = Math.max(worst, Math.abs((actual[i] as number) - e) / Math.max(Math.abs(e), 1e-30));
  }
  return worst;
}

describe.each(['webgl2', 'webgpu'] as const)('gpujs %s: nonFinite skip decided on the device', (mode) => {
  it('a run with NaN/±Inf steps and a loss scaler reads nothing back until settled(), then matches the reference', async () => {
    const gpu = new GPU({ mode });
    const kernels = SIZES.map((n) => scaledGradKernel(gpu, n));
    const scalerOptions: DynamicLossScalerOptions = { initScale: 2 ** 10, growthInterval: 3 };
    const hostScaler = new DynamicLossScaler(scalerOptions);
    const lossScaler = new DynamicLossScaler(scalerOptions);
    const params: GpuJsParam[] = SIZES.map((n, i) => ({ data: Float32Array.from(values(n, i + 1)) }));
    // Two groups with different betas: each reads its own row of debiased betas.
    const groups = [
      { params: [params[0] as GpuJsParam] },
      { params: [params[1] as GpuJsParam], betas: [0.8, 0.95] as [number, number] },
    ];
    const options = { lr: 0.01, weightDecay: 0.01, nonFinite: 'skip' as const };
    const opt = new StableAdamW(groups, { ...options, lossScaler, gpu });
    const reference = new ReferenceStableAdamW(
      SIZES.map((n, i) => values(n, i + 1)),
      [
        { params: [0], hyperparameters: resolveOptions(options) },
        { params: [1], hyperparameters: resolveOptions({ ...options, betas: [0.8, 0.95] }) },
      ],
      'float32',
    );
    const poison: Record<number, [number, number, number]> = {
      2: [1, 0, Number.NaN],
      5: [0, 4, Number.POSITIVE_INFINITY],
      9: [1, 299, Number.NEGATIVE_INFINITY],
      10: [0, 0, Number.NaN],
    };
    const made: GpuJsTensor[] = [];
    const run = async (from: number, to: number) => {
      for (let t = from; t < to; t++) {
        const grads = SIZES.map((n, i) => values(n, 10 * t + i + 3));
        const bad = poison[t];
        const raw = grads.map((g) => g.slice());
        if (bad) (raw[bad[0]] as number[])[bad[1]] = bad[2];
        const scale = await opt.lossScaleTensor();
        for (const [i, param] of params.entries()) {
          param.grad = (await kernels[i]?.(Float32Array.from(raw[i] as number[]), scale)) as GpuJsTensor;
          made.push(param.grad);
        }
        await opt.step();
        if (!bad) reference.step(grads);
        hostScaler.update(bad !== undefined);
      }
    };
    const counts = deviceCounters(mode);
    await run(0, 12);
    expect(counts().readbacks).toBe(0);
    expect(opt.stats.readbacks).toBe(0);
    // Nothing read yet: the host's counters are those it started from.
    expect(opt.skippedSteps).toBe(0);
    await opt.settled();
    expect(opt.stats.readbacks).toBe(1);
    await opt.settled();
    expect(opt.stats.readbacks).toBe(1);
    expect(opt.skippedSteps).toBe(4);
    expect(opt.lastStepSkipped).toBe(false);
    expect(opt.paramGroups.map((g) => g.step)).toEqual(reference.groupSteps);
    expect(lossScaler.stateDict()).toEqual(hostScaler.stateDict());
    // A second epoch after the read, ending on a skipped step.
    await run(12, 14);
    poison[14] = [1, 7, Number.NaN];
    await run(14, 15);
    const state = await opt.stateDict();
    expect(opt.skippedSteps).toBe(5);
    expect(opt.lastStepSkipped).toBe(true);
    expect(state.skipped_steps).toBe(5);
    expect(opt.paramGroups.map((g) => g.step)).toEqual(reference.groupSteps);
    expect(lossScaler.stateDict()).toEqual(hostScaler.stateDict());
    const tolerance = referenceTolerances('float32', options.lr).params;
    const read = await opt.readParams();
    read.forEach((p, i) => {
      const report = compareValues(Float64Array.from(p), reference.params[i] as Float64Array, tolerance, 'float32');
      expect(withinTolerance(report, tolerance), JSON.stringify(report)).toBe(true);
      const moments = state.state[i] as { exp_avg: number[]; exp_avg_sq: number[] };
      expect(relativeError(moments.exp_avg, reference.state[i]?.expAvg as Float64Array)).toBeLessThan(1e-4);
      expect(relativeError(moments.exp_avg_sq, reference.state[i]?.expAvgSq as Float64Array)).toBeLessThan(1e-4);
    });
    for (const t of made) (t as { delete(): void }).delete();
    await opt.dispose();
    for (const k of kernels) k.destroy();
    await gpu.destroy();
  });

  it('a 2^130 initial scale unscales by exact powers of two (no flush to zero), backs off and grows as on gpu.js cpu', async () => {
    const gpu = new GPU({ mode });
    const cpuGpu = new GPU({ mode: 'cpu' });
    const scaler = () => new DynamicLossScaler({ initScale: 2 ** 130, maxScale: 2 ** 140, growthInterval: 2 });
    const make = (g: GPU) => {
      const params: GpuJsParam[] = SIZES.map((n, i) => ({ data: Float32Array.from(values(n, i + 1)) }));
      const lossScaler = scaler();
      return { params, lossScaler, opt: new StableAdamW(params, { lr: 0.01, nonFinite: 'skip', lossScaler, gpu: g }) };
    };
    const device = make(gpu);
    const cpu = make(cpuGpu);
    for (let t = 0; t < 5; t++) {
      const scale = cpu.lossScaler.scale;
      for (const run of [device, cpu]) {
        run.params.forEach((p, i) => {
          // Tiny gradients × 2^130 or 2^131: finite in float32, and 1/scale is below float32's normal range.
          const g = values(SIZES[i] as number, 10 * t + i).map((x) => x * 2 ** -100 * scale);
          if (t === 2 && i === 1) g[3] = Number.POSITIVE_INFINITY;
          p.grad = Float32Array.from(g);
        });
        await run.opt.step();
      }
    }
    await device.opt.settled();
    expect(device.lossScaler.stateDict()).toEqual(cpu.lossScaler.stateDict());
    expect(device.lossScaler.scale).toBe(2 ** 131);
    expect(device.opt.skippedSteps).toBe(1);
    const [got, want] = [await device.opt.stateDict(), await cpu.opt.stateDict()];
    SIZES.forEach((_, i) => {
      const m = (got.state[i] as { exp_avg: number[] }).exp_avg;
      expect(m.every((x) => x !== 0)).toBe(true);
      expect(relativeError(m, (want.state[i] as { exp_avg: number[] }).exp_avg)).toBeLessThan(1e-5);
    });
    expect(got.param_groups.map((g) => g.step)).toEqual(want.param_groups.map((g) => g.step));
    await device.opt.dispose();
    await cpu.opt.dispose();
    await gpu.destroy();
    await cpuGpu.destroy();
  });

  it('launches per step: one control launch, plus the count tree and one addition per device gradient, for 4 and 512 tensors', async () => {
    const gpu = new GPU({ mode });
    const n = 300;
    const upload = gpu.createKernel(
      function (this: IKernelFunctionThis, a: number[]): number {
        return a[this.thread.x] as number;
      },
      { ...SETTINGS, output: [n] },
    );
    const perStep = async (tensors: number, nonFinite: 'skip' | 'propagate', inputs: 'array' | 'texture') => {
      const params: GpuJsParam[] = Array.from({ length: tensors }, (_, i) => ({ data: Float32Array.from(values(n, i)) }));
      // Per tensor on webgpu too, so that 'propagate' runs the kernels 'skip' adds its launches to.
      const opt = new StableAdamW(params, { lr: 0.01, nonFinite, gpu, kernel: 'per-tensor' });
      const made: GpuJsTensor[] = [];
      const step = async (t: number) => {
        for (const [i, p] of params.entries()) {
          const g = Float32Array.from(values(n, t + i));
          p.grad = inputs === 'array' ? g : ((await upload(g)) as GpuJsTensor);
          if (inputs === 'texture') made.push(p.grad);
        }
        const before = opt.stats.launches;
        await opt.step();
        return opt.stats.launches - before;
      };
      await step(0);
      const launches = await step(1);
      expect(opt.stats.readbacks).toBe(0);
      for (const t of made) (t as { delete(): void }).delete();
      await opt.dispose();
      return launches;
    };
    for (const tensors of [4, 512]) {
      const propagate = await perStep(tensors, 'propagate', 'texture');
      // The host scans host gradients: the device decision is one control launch per step.
      expect(await perStep(tensors, 'skip', 'array')).toBe((await perStep(tensors, 'propagate', 'array')) + 1);
      // Device gradients: each one's count tree and one addition, as the host check's table placements were.
      expect(await perStep(tensors, 'skip', 'texture')).toBe(propagate + tensors * (reductionLaunches(n) + 1));
    }
    upload.destroy();
    await gpu.destroy();
  });

  it('stepParam runs while device steps are unread; calls that count on the host are refused, with state untouched', async () => {
    const gpu = new GPU({ mode });
    const param: GpuJsParam = { data: Float32Array.from(values(8, 1)) };
    const opt = new StableAdamW([param], { lr: 0.01, nonFinite: 'skip', gradientRelease: true, gpu });
    param.grad = Float32Array.from(values(8, 2));
    await opt.step();
    // Decided on the device like the step before it: nothing read.
    await opt.stepParam(param, Float32Array.from(values(8, 3)));
    expect(opt.stats.readbacks).toBe(0);
    const before = Array.from(await opt.readParam(param));
    const [group] = opt.paramGroups as [(typeof opt.paramGroups)[0]];
    group.nonFinite = 'propagate';
    param.grad = Float32Array.from(values(8, 4));
    expect(() => opt.step()).toThrow(UnsupportedBackendError);
    expect(() => opt.step()).toThrow('await optimizer.settled()');
    expect(() => opt.stepParam(param, Float32Array.from(values(8, 4)))).toThrow('await optimizer.settled()');
    expect(Array.from(await opt.readParam(param))).toEqual(before);
    await opt.settled();
    expect(group.step).toBe(1);
    expect((await opt.stateDict()).state[0]?.step).toBe(1);
    await opt.step();
    await opt.stepParam(param, Float32Array.from(values(8, 5)));
    expect(group.step).toBe(2);
    expect((await opt.stateDict()).state[0]?.step).toBe(2);
    await opt.dispose();
    await gpu.destroy();
  });
});
