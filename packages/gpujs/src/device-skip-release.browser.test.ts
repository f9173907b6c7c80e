import { DynamicLossScaler, type ParamGroupInput, type StateDict, UnsupportedBackendError } from '@stable-adamw/core';
import { GPU, type IKernelFunctionThis } from 'gpu.js';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { GpuJsParam } from './param.js';
import { StableAdamW } from './stable-adamw.js';
import { type GpuJsTensor, isDeviceTensor } from './tensor.js';
import { deviceCounters, failNthSubmission } from './testing/device-counters.js';
import { reductionLaunches } from './testing/launches.js';
import { uploader } from './testing/uploader.js';

// Gradient release under nonFinite: 'skip' on webgl2 and webgpu (Chromium's SwiftShader):
// stepParam is decided on the device with nothing read back, and a run mixing stepParam calls
// (full and accumulation-only, device and host gradients, NaN/±Inf in both), whole steps and a
// state dict saved mid-run ends exactly where core's host-decided path on gpu.js `cpu` does.
afterEach(() => {
  vi.restoreAllMocks();
});

const SETTINGS = { pipeline: true, immutable: true, precision: 'single', tactic: 'precision' } as const;
/** P0, P1 and P3 are released (stepParam); P2 is stepped by step(). */
const SIZES = [5, 300, 33, 7];
const RELEASED = [0, 1, 3];

function values(n: number, seed: number): number[] {
  return Array.from({ length: n }, (_, i) => Math.sin(seed * 12.9898 + i * 78.233) * 0.9 + 0.05 * seed);
}

/** Param i's poison at iteration t: [element, value]. */
const POISON: Record<number, Record<number, [number, number]>> = {
  2: { 1: [4, Number.NaN] },
  5: { 0: [1, Number.POSITIVE_INFINITY] },
  7: { 2: [0, Number.NaN] },
  9: { 1: [299, Number.NEGATIVE_INFINITY], 0: [0, Number.NEGATIVE_INFINITY] },
  11: { 1: [8, Number.NaN] },
};
const ITERATIONS = 12;
/** Iterations whose stepParam calls update the moments only. */
const accumulating = (t: number) => t % 4 === 1;
/** P0's gradient is a host array on odd iterations. */
const hostGrad = (t: number, i: number) => i === 0 && t % 2 === 1;

function groups(params: GpuJsParam[]): ParamGroupInput<GpuJsParam>[] {
  return [
    { params: [params[0] as GpuJsParam, params[2] as GpuJsParam] },
    { params: [params[1] as GpuJsParam], betas: [0.8, 0.95] },
    { params: [params[3] as GpuJsParam], lr: 0.02 },
  ];
}

function make(gpu: GPU, data: Float32Array[] = SIZES.map((n, i) => Float32Array.from(values(n, i + 1)))) {
  const params: GpuJsParam[] = data.map((d) => ({ data: d }));
  const lossScaler = new DynamicLossScaler({ initScale: 2 ** 10, growthInterval: 2 });
  const opt = new StableAdamW(groups(params), {
    lr: 0.01,
    weightDecay: 0.01,
    nonFinite: 'skip',
    gradientRelease: true,
    lossScaler,
    gpu,
  });
  return { params, lossScaler, opt };
}

type Run = ReturnType<typeof make>;

/** Relative distance of two arrays. */
function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i] as number;
    worst = Math.max(worst, Math.abs((actual[i] as number) - e) / Math.max(Math.abs(e), 1e-30));
  }
  return worst;
}

async function expectSameCounters(device: Run, host: Run): Promise<void> {
  const [got, want] = [await device.opt.stateDict(), await host.opt.stateDict()];
  expect(device.opt.skippedSteps).toBe(host.opt.skippedSteps);
  expect(device.opt.lastStepSkipped).toBe(host.opt.lastStepSkipped);
  expect(device.lossScaler.stateDict()).toEqual(host.lossScaler.stateDict());
  expect(got.param_groups.map((g) => g.step)).toEqual(want.param_groups.map((g) => g.step));
  expect(Object.values(got.state).map((s) => s.step)).toEqual(Object.values(want.state).map((s) => s.step));
  expect(got.skipped_steps).toBe(want.skipped_steps);
}

describe.each(['webgl2', 'webgpu'] as const)('gpujs %s: stepParam under nonFinite skip decided on the device', (mode) => {
  it('a release run with skipped calls, whole steps, a scaler and a mid-run state dict reads nothing back and matches the host path', async () => {
    const gpu = new GPU({ mode });
    const cpuGpu = new GPU({ mode: 'cpu' });
    const scaled = SIZES.map((n) =>
      gpu.createKernel(
        function (this: IKernelFunctionThis, g: number[], scale: number[]): number {
          return (g[this.thread.x] as number) * (scale[0] as number);
        },
        { ...SETTINGS, output: [n] },
      ),
    );
    const made: GpuJsTensor[] = [];
    let device = make(gpu);
    const host = make(cpuGpu);
    const counts = deviceCounters(mode);
    /** Launches of P1's full calls (a 300-element device gradient), clean or skipped, once its state is on the device. */
    const p1Launches = new Map<number, number>();
    let live: number | undefined;
    const iterate = async (t: number) => {
      const grads = SIZES.map((n, i) => {
        const g = values(n, 10 * t + i + 3);
        const bad = POISON[t]?.[i];
        if (bad) g[bad[0]] = bad[1];
        return g;
      });
      for (const run of [device, host]) run.opt.accumulate = accumulating(t);
      // The caller's backward pass for each param: gradient × the loss scale, on the device from
      // the optimizer's own scale tensor, on the host from the host path's scaler.
      const deviceGrad = async (i: number): Promise<GpuJsTensor> => {
        const g = grads[i] as number[];
        // A host gradient is scaled by the true scale (the host path's): the device's is not read.
        if (hostGrad(t, i)) return Float32Array.from(g, (x) => x * host.lossScaler.scale);
        const tensor = (await scaled[i]?.(Float32Array.from(g), await device.opt.lossScaleTensor())) as GpuJsTensor;
        made.push(tensor);
        return tensor;
      };
      const hostGradOf = (i: number) => Float32Array.from(grads[i] as number[], (x) => x * host.lossScaler.scale);
      for (const i of RELEASED) {
        const grad = await deviceGrad(i);
        const before = { readbacks: device.opt.stats.readbacks, spied: counts().readbacks, launches: device.opt.stats.launches };
        await device.opt.stepParam(device.params[i] as GpuJsParam, grad);
        expect(device.opt.stats.readbacks).toBe(before.readbacks);
        expect(counts().readbacks).toBe(before.spied);
        if (i === 1 && !accumulating(t) && live !== undefined) p1Launches.set(t, device.opt.stats.launches - before.launches);
        expect(device.params[i]?.grad ?? null).toBeNull();
        await host.opt.stepParam(host.params[i] as GpuJsParam, hostGradOf(i));
      }
      (device.params[2] as GpuJsParam).grad = await deviceGrad(2);
      (host.params[2] as GpuJsParam).grad = hostGradOf(2);
      const before = { readbacks: device.opt.stats.readbacks, spied: counts().readbacks };
      await device.opt.step();
      expect(device.opt.stats.readbacks).toBe(before.readbacks);
      expect(counts().readbacks).toBe(before.spied);
      await host.opt.step();
      // Tensor counts stay flat from an optimizer's second iteration on (state exists by then).
      if (live !== undefined) expect(device.opt.stats.liveTensors).toBe(live);
      live = device.opt.stats.liveTensors;
    };
    for (let t = 0; t < 7; t++) await iterate(t);
    // Nothing read yet: the host's counters are those the run started from.
    expect(device.opt.skippedSteps).toBe(0);
    expect(device.opt.stats.readbacks).toBe(0);
    expect(host.opt.skippedSteps).toBe(2);
    // Saved mid-run (t = 6 ended clean after two skipped calls) and reloaded into a new optimizer.
    const saved = await device.opt.stateDict();
    await expectSameCounters(device, host);
    const data = await Promise.all(device.params.map(async (p) => Float32Array.from(await device.opt.readParam(p))));
    const reloaded = make(gpu, data);
    await reloaded.opt.loadStateDict(JSON.parse(JSON.stringify(saved)) as StateDict);
    await device.opt.dispose();
    device = reloaded;
    live = undefined;
    for (let t = 7; t < ITERATIONS; t++) await iterate(t);
    expect(device.opt.stats.readbacks).toBe(0);
    // One launch count per full call of P1, clean or skipped.
    expect([...p1Launches.keys()]).toEqual([2, 3, 4, 6, 8, 10, 11]);
    expect(new Set(p1Launches.values()).size, JSON.stringify([...p1Launches])).toBe(1);
    await expectSameCounters(device, host);
    // The run ended on a skipped stepParam: the last step() backed the scaler off.
    expect(device.opt.lastStepSkipped).toBe(true);
    expect(device.opt.skippedSteps).toBe(6);
    const [got, want] = [await device.opt.stateDict(), await host.opt.stateDict()];
    const [gotParams, wantParams] = [await device.opt.readParams(), await host.opt.readParams()];
    SIZES.forEach((_, i) => {
      expect(relativeError(gotParams[i] as Float32Array, wantParams[i] as Float32Array)).toBeLessThan(1e-5);
      const [g, w] = [got.state[i], want.state[i]] as { exp_avg: number[]; exp_avg_sq: number[] }[];
      expect(relativeError(g?.exp_avg as number[], w?.exp_avg as number[])).toBeLessThan(1e-4);
      expect(relativeError(g?.exp_avg_sq as number[], w?.exp_avg_sq as number[])).toBeLessThan(1e-4);
    });
    for (const t of made) (t as { delete(): void }).delete();
    await device.opt.dispose();
    await host.opt.dispose();
    for (const k of scaled) k.destroy();
    await gpu.destroy();
    await cpuGpu.destroy();
  });

  it('launches per stepParam: the count tree and one control launch more than a propagate call, none read back, no texture left', async () => {
    const gpu = new GPU({ mode });
    const up = uploader(gpu);
    const counts = deviceCounters(mode);
    const n = 300;
    const perCall = async (nonFinite: 'skip' | 'propagate', inputs: 'array' | 'texture') => {
      const param: GpuJsParam = { data: Float32Array.from(values(n, 1)) };
      const opt = new StableAdamW([param], { lr: 0.01, nonFinite, gradientRelease: true, gpu });
      const call = async (t: number) => {
        const g = Float32Array.from(values(n, t));
        const grad = inputs === 'array' ? g : await up.upload(g);
        const before = opt.stats.launches;
        await opt.stepParam(param, grad);
        if (isDeviceTensor(grad)) grad.delete();
        return opt.stats.launches - before;
      };
      await call(0);
      const launches = await call(1);
      const live = counts().live;
      expect(await call(2)).toBe(launches);
      expect(counts().live).toBe(live);
      expect(opt.stats.readbacks).toBe(0);
      await opt.dispose();
      return launches;
    };
    expect(await perCall('skip', 'array')).toBe((await perCall('propagate', 'array')) + 1);
    expect(await perCall('skip', 'texture')).toBe((await perCall('propagate', 'texture')) + reductionLaunches(n) + 1);
    up.destroy();
    await gpu.destroy();
  });

  it("in an optimizer with a 'skip' group, a 'propagate' group's calls are the device's too: unchecked, counted", async () => {
    const gpu = new GPU({ mode });
    const cpuGpu = new GPU({ mode: 'cpu' });
    const up = uploader(gpu);
    const runs = [gpu, cpuGpu].map((g) => {
      const params: GpuJsParam[] = [8, 12].map((n, i) => ({ data: Float32Array.from(values(n, i + 1)) }));
      const opt = new StableAdamW(
        [{ params: [params[0] as GpuJsParam] }, { params: [params[1] as GpuJsParam], nonFinite: 'propagate' }],
        { lr: 0.01, nonFinite: 'skip', gradientRelease: true, gpu: g },
      );
      return { params, opt, device: g === gpu };
    });
    for (let t = 0; t < 4; t++) {
      for (const { params, opt, device } of runs) {
        for (const [i, p] of params.entries()) {
          const g = Float32Array.from(values(i ? 12 : 8, 10 * t + i));
          // A NaN in the 'skip' group drops the call; the 'propagate' group's +Inf goes into its moments.
          if (t === 1) g[2] = i ? Number.POSITIVE_INFINITY : Number.NaN;
          await opt.stepParam(p, device ? await up.upload(g) : g);
        }
        await opt.step();
      }
    }
    const [device, host] = runs as [(typeof runs)[0], (typeof runs)[0]];
    expect(device.opt.stats.readbacks).toBe(0);
    const [got, want] = [await device.opt.stateDict(), await host.opt.stateDict()];
    expect(got.skipped_steps).toBe(1);
    expect(Object.values(got.state).map((s) => s.step)).toEqual([3, 4]);
    expect(Object.values(got.state).map((s) => s.step)).toEqual(Object.values(want.state).map((s) => s.step));
    expect(got.param_groups.map((g) => g.step)).toEqual(want.param_groups.map((g) => g.step));
    expect(device.opt.lastStepSkipped).toBe(host.opt.lastStepSkipped);
    const [a, b] = [await device.opt.readParams(), await host.opt.readParams()];
    expect(relativeError(a[0] as Float32Array, b[0] as Float32Array)).toBeLessThan(1e-5);
    expect(Array.from(a[1] as Float32Array).map(Number.isNaN)).toEqual(Array.from(b[1] as Float32Array).map(Number.isNaN));
    up.destroy();
    for (const run of runs) await run.opt.dispose();
    await gpu.destroy();
    await cpuGpu.destroy();
  });

  it('34 unread calls outgrow the betas table (16, 32, then 64 rows), a read starts a new epoch, all like the host path', async () => {
    const gpu = new GPU({ mode });
    const cpuGpu = new GPU({ mode: 'cpu' });
    const up = uploader(gpu);
    const runs = [gpu, cpuGpu].map((g) => {
      const param: GpuJsParam = { data: Float32Array.from(values(24, 1)) };
      return { param, opt: new StableAdamW([param], { lr: 0.01, nonFinite: 'skip', gradientRelease: true, gpu: g }) };
    });
    const [device, host] = runs as [(typeof runs)[0], (typeof runs)[0]];
    for (let t = 0; t < 40; t++) {
      const g = Float32Array.from(values(24, t + 2));
      if (t % 7 === 3) g[t % 24] = Number.NaN;
      for (const run of runs) run.opt.accumulate = t % 3 === 1;
      await device.opt.stepParam(device.param, await up.upload(g));
      await host.opt.stepParam(host.param, g);
      if (t === 33) await device.opt.settled();
    }
    expect(device.opt.stats.readbacks).toBe(1);
    const [got, want] = [await device.opt.stateDict(), await host.opt.stateDict()];
    expect(got.state[0]?.step).toBe(34);
    expect(got.state[0]?.step).toBe(want.state[0]?.step);
    expect(got.skipped_steps).toBe(want.skipped_steps);
    expect(device.opt.lastStepSkipped).toBe(host.opt.lastStepSkipped);
    const [a, b] = [await device.opt.readParam(device.param), await host.opt.readParam(host.param)];
    expect(relativeError(a, b)).toBeLessThan(1e-5);
    const [m, w] = [got.state[0], want.state[0]] as { exp_avg: number[]; exp_avg_sq: number[] }[];
    expect(relativeError(m?.exp_avg as number[], w?.exp_avg as number[])).toBeLessThan(1e-4);
    expect(relativeError(m?.exp_avg_sq as number[], w?.exp_avg_sq as number[])).toBeLessThan(1e-4);
    up.destroy();
    for (const run of runs) await run.opt.dispose();
    await gpu.destroy();
    await cpuGpu.destroy();
  });

  it('a stepParam the device fails part-way throws a typed error and changes nothing; the run goes on', async () => {
    const gpu = new GPU({ mode });
    const up = uploader(gpu);
    const param: GpuJsParam = { data: Float32Array.from(values(40, 1)) };
    const opt = new StableAdamW([param], { lr: 0.01, nonFinite: 'skip', gradientRelease: true, gpu });
    await opt.stepParam(param, await up.upload(Float32Array.from(values(40, 2))));
    const params = Array.from(await opt.readParam(param));
    const live = opt.stats.liveTensors;
    const saved = await opt.stateDict();
    const bad = Float32Array.from(values(40, 3));
    bad[5] = Number.NaN;
    const grad = await up.upload(bad);
    const spy = failNthSubmission(mode, 3);
    await expect((async () => opt.stepParam(param, grad))()).rejects.toThrow(UnsupportedBackendError);
    spy.mockRestore();
    expect(opt.stats.liveTensors).toBe(live);
    expect(Array.from(await opt.readParam(param))).toEqual(params);
    expect(await opt.stateDict()).toEqual(saved);
    // The same call again is skipped; a clean one counts.
    await opt.stepParam(param, grad);
    await opt.stepParam(param, await up.upload(Float32Array.from(values(40, 4))));
    const after = await opt.stateDict();
    expect(after.skipped_steps).toBe(1);
    expect(after.state[0]?.step).toBe(2);
    expect(opt.stats.liveTensors).toBe(live);
    up.destroy();
    await opt.dispose();
    await gpu.destroy();
  });
});
