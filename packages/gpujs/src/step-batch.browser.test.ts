import { GradientMismatchError, InvalidParamError, type StateDict, UnsupportedBackendError } from '@stable-adamw/core';
import { ReferenceStableAdamW, resolveOptions } from '@stable-adamw/core/adapter';
import { GPU } from 'gpu.js';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { GpuJsParam } from './param.js';
import { StableAdamW } from './stable-adamw.js';
import type { GpuJsTensor } from './tensor.js';
import { type BrowserMode, deviceCounters, failNthSubmission } from './testing/device-counters.js';
import { uploader } from './testing/uploader.js';

// #21: everything that can fail is checked before any kernel runs; a failure part-way is undone.
// Every case checks params, moments, counters and live textures/buffers before and after, and that
// the next valid step equals the float64 reference of a run that never saw the failure.

const OPTIONS = { lr: 0.01, weightDecay: 0.01 };
const SIZES = [5, 300];

/** Deterministic values in [-1, 1) that differ per element and per step. */
function values(n: number, seed: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 12.9898 + i * 78.233) * 0.9 + 0.05 * seed);
}

/** Everything a failed step must leave as it was. */
async function snapshot(opt: StableAdamW): Promise<{ params: number[][]; state: StateDict; steps: number[] }> {
  const params = (await opt.readParams()).map((p) => Array.from(p));
  return { params, state: await opt.stateDict(), steps: opt.paramGroups.map((g) => g.step) };
}

/** Params and moments equal the float64 reference to float32 accuracy. */
async function expectReference(opt: StableAdamW, reference: ReferenceStableAdamW): Promise<void> {
  const params = await opt.readParams();
  params.forEach((p, i) => {
    const want = reference.params[i] as Float64Array;
    for (let j = 0; j < p.length; j++) expect(Math.abs((p[j] as number) - (want[j] as number))).toBeLessThan(2e-6);
  });
  const { state } = await opt.stateDict();
  reference.state.forEach((s, i) => {
    const entry = state[i];
    if (!s) {
      expect(entry).toBeUndefined();
      return;
    }
    for (const [got, want] of [
      [entry?.exp_avg, s.expAvg],
      [entry?.exp_avg_sq, s.expAvgSq],
    ] as const) {
      (got ?? []).forEach((x, j) => {
        const w = want[j] as number;
        expect(Math.abs(Number(x) - w)).toBeLessThanOrEqual(1e-6 + 1e-5 * Math.abs(w));
      });
    }
  });
}

/** Two params on `gpu` with their reference, stepped `steps` times with texture gradients. */
async function setup(mode: BrowserMode, steps: number, kernel: 'auto' | 'per-tensor' = 'auto') {
  const counts = deviceCounters(mode);
  const baseline = counts();
  const gpu = new GPU({ mode });
  const { upload, destroy } = uploader(gpu);
  const init = SIZES.map((n, i) => values(n, 100 + i));
  const params: GpuJsParam[] = init.map((data, i) => ({ data: Float32Array.from(data), name: `w${i}` }));
  const opt = new StableAdamW(params, { gpu, kernel, ...OPTIONS });
  const reference = new ReferenceStableAdamW(init, [{ params: [0, 1], hyperparameters: resolveOptions(OPTIONS) }], 'float32');
  let seed = 0;
  /** Gradients of the next step, as the caller's textures, also given to the reference's next step. */
  const nextGrads = async () => {
    seed += 1;
    const host = SIZES.map((n, i) => values(n, seed * 10 + i));
    const device = await Promise.all(host.map(upload));
    return { host, device };
  };
  const validStep = async () => {
    const { host, device } = await nextGrads();
    params.forEach((p, i) => {
      p.grad = device[i];
    });
    await opt.step();
    reference.step(host);
  };
  for (let t = 0; t < steps; t++) await validStep();
  const close = async () => {
    await opt.dispose();
    destroy();
    expect(opt.stats.liveTensors).toBe(0);
    expect(counts().live - baseline.live).toBe(0); // dispose frees every texture/buffer, after failures too
    await gpu.destroy();
  };
  return { gpu, opt, params, reference, counts, upload, nextGrads, validStep, close };
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe.each<BrowserMode>(['webgl2', 'webgl', 'webgpu'])('gpujs %s: a failed step changes nothing', (mode) => {
  it('refuses a deleted gradient before any kernel runs, then steps as if it never happened', async () => {
    const s = await setup(mode, 1);
    const before = await snapshot(s.opt);
    const launches = s.opt.stats.launches;
    const { device } = await s.nextGrads();
    s.params.forEach((p, i) => {
      p.grad = device[i];
    });
    (device[1] as { delete(): void }).delete();
    const live = s.counts().live;
    expect(() => s.opt.step()).toThrow(GradientMismatchError);
    expect(() => s.opt.step()).toThrow(/params\[1\] \(w1\).*was deleted/);
    expect(s.opt.stats.launches).toBe(launches);
    expect(s.counts().live).toBe(live); // nothing allocated
    expect(await snapshot(s.opt)).toEqual(before);
    await s.validStep();
    await expectReference(s.opt, s.reference);
    await s.close();
  });

  it('refuses a deleted param texture, leaving every other param and the counters alone', async () => {
    const s = await setup(mode, 2);
    const before = await snapshot(s.opt);
    const data = s.params[0]?.data as GpuJsTensor;
    (data as { delete(): void }).delete();
    const { device } = await s.nextGrads();
    s.params.forEach((p, i) => {
      p.grad = device[i];
    });
    expect(() => s.opt.step()).toThrow(InvalidParamError);
    expect(() => s.opt.step()).toThrow(/params\[0\] \(w0\)\.data.*was deleted/);
    expect(s.opt.paramGroups[0]?.step).toBe(2);
    // The caller restores the param (here from the values read before), and training goes on.
    (s.params[0] as GpuJsParam).data = await s.upload(Float32Array.from(before.params[0] as number[])); // the caller's, freed by close()
    expect(await s.opt.stateDict()).toEqual(before.state);
    await s.validStep();
    await expectReference(s.opt, s.reference);
    await s.close();
  });

  it('undoes a step the device fails part-way: typed error, counters, params, moments and buffers as before', async () => {
    // WebGPU's fused step is one submit (fused-step.browser.test.ts fails it): here its per-tensor kernels.
    const s = await setup(mode, 2, 'per-tensor');
    const before = await snapshot(s.opt);
    const { host, device } = await s.nextGrads();
    s.params.forEach((p, i) => {
      p.grad = device[i];
    });
    const owned = s.opt.stats.liveTensors;
    // Past the first param's kernels (GL: one draw per kernel; WebGPU: one submit per kernel, two per small tensor).
    const failing = failNthSubmission(mode, mode === 'webgpu' ? 3 : 4);
    await expect(async () => s.opt.step()).rejects.toThrow(UnsupportedBackendError);
    expect(failing).toHaveBeenCalledTimes(mode === 'webgpu' ? 3 : 4);
    failing.mockRestore();
    expect(s.opt.paramGroups[0]?.step).toBe(2);
    // The step's outputs are freed; gpu.js kernels may keep their last output buffer until their next run or dispose.
    expect(s.opt.stats.liveTensors).toBe(owned);
    expect(await snapshot(s.opt)).toEqual(before);
    await s.opt.step(); // the same gradients again, on a healthy device
    s.reference.step(host);
    await expectReference(s.opt, s.reference);
    await s.close();
  });
});

describe.each<BrowserMode>(['webgl2', 'webgl'])('gpujs %s: tensors of another GPU instance', (mode) => {
  it('refuses a gradient texture of another WebGL context before anything is allocated', async () => {
    const s = await setup(mode, 0);
    const other = new GPU({ mode });
    const foreign = uploader(other);
    const before = await snapshot(s.opt);
    const grads = await Promise.all(SIZES.map((n, i) => (i === 1 ? foreign.upload(values(n, 7)) : s.upload(values(n, 7)))));
    s.params.forEach((p, i) => {
      p.grad = grads[i];
    });
    expect(() => s.opt.step()).toThrow(GradientMismatchError);
    expect(() => s.opt.step()).toThrow(/params\[1\] \(w1\).*another WebGL context/);
    expect(s.opt.paramGroups[0]?.step).toBe(0);
    expect(await snapshot(s.opt)).toEqual(before);
    expect(before.state.state).toEqual({}); // no state allocated
    expect(s.opt.stats.liveTensors).toBe(0);
    expect(s.opt.stats.launches).toBe(0);
    foreign.destroy();
    await other.destroy();
    await s.validStep();
    await expectReference(s.opt, s.reference);
    await s.close();
  });
});
