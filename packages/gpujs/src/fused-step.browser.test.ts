import { InvalidParamError, UnsupportedBackendError } from '@stable-adamw/core';
import { ReferenceStableAdamW, resolveOptions } from '@stable-adamw/core/adapter';
import { GPU, type IKernelFunctionThis } from 'gpu.js';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { GpuJsParam } from './param.js';
import { StableAdamW } from './stable-adamw.js';
import { type GpuJsTensor, isDeviceTensor } from './tensor.js';
import { deviceCounters, failNthSubmission, protoOf } from './testing/device-counters.js';
import { uploader } from './testing/uploader.js';

// The `webgpu-multi-tensor` path (fused-step.ts): the float64 reference, dispatches per step that
// do not depend on the number of tensors, nothing read back, no buffer made per step, fallbacks.

const SETTINGS = { pipeline: true, immutable: true, precision: 'single', tactic: 'precision' } as const;

/** Deterministic values in about [-1, 1) that differ per element and per seed. */
function values(n: number, seed: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 12.9898 + i * 78.233) * 0.9 + 0.01 * seed);
}

/** Counts compute dispatches and queue submits (the optimizer's and gpu.js's alike). */
function dispatchCounter() {
  const dispatch = vi.spyOn(protoOf('GPUComputePassEncoder'), 'dispatchWorkgroups');
  const submit = vi.spyOn(protoOf('GPUQueue'), 'submit');
  return () => ({ dispatches: dispatch.mock.calls.length, submits: submit.mock.calls.length });
}

/** Largest |got − want| over params, and whether the moments are within float32 tolerance of the reference. */
async function errors(opt: StableAdamW, reference: ReferenceStableAdamW) {
  const params = await opt.readParams();
  let maxParam = 0;
  params.forEach((p, i) => {
    const want = reference.params[i] as Float64Array;
    for (let j = 0; j < p.length; j++) maxParam = Math.max(maxParam, Math.abs((p[j] as number) - (want[j] as number)));
  });
  const { state } = await opt.stateDict();
  let maxStateRatio = 0;
  reference.state.forEach((s, i) => {
    const entry = state[i];
    if (!s || !entry) return;
    for (const [got, want] of [
      [entry.exp_avg, s.expAvg],
      [entry.exp_avg_sq, s.expAvgSq],
    ] as const) {
      (got as number[]).forEach((x, j) => {
        const w = want[j] as number;
        maxStateRatio = Math.max(maxStateRatio, Math.abs(Number(x) - w) / (1e-6 + 1e-5 * Math.abs(w)));
      });
    }
  });
  return { maxParam, maxStateRatio };
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('gpujs webgpu: the fused multi-tensor step', () => {
  it.each([
    ['4 tensors', [5, 300, 4096, 7]],
    ['an odd-sized mix with a tensor over 1M elements', [1, 3, 1023, 65_537, 262_143, 262_145, 1_048_577]],
  ])('%s: float64 reference over several steps, two weight-decay groups, device and host gradients', async (_, sizes) => {
    const gpu = new GPU({ mode: 'webgpu' });
    const { upload, destroy } = uploader(gpu);
    const init = sizes.map((n, i) => values(n, 100 + i));
    const params: GpuJsParam[] = init.map((data, i) => ({ data: Float32Array.from(data), name: `w${i}` }));
    const half = Math.ceil(sizes.length / 2);
    const groups = [
      { params: params.slice(0, half), weightDecay: 0.1 },
      { params: params.slice(half), weightDecay: 0 },
    ];
    const options = { lr: 0.02, betas: [0.9, 0.99] as [number, number] };
    const opt = new StableAdamW(groups, { gpu, ...options });
    expect(opt.kernelPath).toBe('webgpu-multi-tensor');
    const reference = new ReferenceStableAdamW(
      init,
      [
        { params: sizes.slice(0, half).map((_, i) => i), hyperparameters: resolveOptions({ ...options, weightDecay: 0.1 }) },
        { params: sizes.slice(half).map((_, i) => half + i), hyperparameters: resolveOptions({ ...options, weightDecay: 0 }) },
      ],
      'float32',
    );
    for (let t = 1; t <= 4; t++) {
      // Large gradients on step 2, so that the RMS clip is exercised.
      const host = sizes.map((n, i) => values(n, 10 * t + i).map((x) => (t === 2 ? 40 * x : x)));
      for (const [i, p] of params.entries()) p.grad = i % 2 === 0 ? await upload(host[i] as Float32Array) : host[i];
      await opt.step();
      reference.step(host);
    }
    expect(opt.kernelPath).toBe('webgpu-multi-tensor');
    expect(opt.stats.executedModes).toEqual(['webgpu']);
    const { maxParam, maxStateRatio } = await errors(opt, reference);
    expect(maxParam).toBeLessThan(2e-6);
    expect(maxStateRatio).toBeLessThan(1);
    await opt.dispose();
    destroy();
    await gpu.destroy();
  });

  it('dispatches and submits per step are the same for 4 and 512 tensors; nothing read back, no buffer made per step', async () => {
    const gpu = new GPU({ mode: 'webgpu' });
    const { upload, destroy } = uploader(gpu);
    const counts = deviceCounters('webgpu');
    const calls = dispatchCounter();
    const perStep = async (tensors: number) => {
      const n = 96;
      const params: GpuJsParam[] = Array.from({ length: tensors }, (_, i) => ({ data: values(n, i) }));
      const grads = await Promise.all(params.map((_, i) => upload(values(n, 1000 + i))));
      params.forEach((p, i) => {
        p.grad = grads[i];
      });
      const start = counts().live;
      const opt = new StableAdamW(params, { gpu, lr: 0.01, weightDecay: 0.01 });
      await opt.step(); // the first step moves params and state into the optimizer's buffers
      const before = { stats: opt.stats, device: counts(), calls: calls() };
      for (let t = 0; t < 5; t++) await opt.step();
      const after = { stats: opt.stats, device: counts(), calls: calls() };
      expect(after.device.readbacks - before.device.readbacks).toBe(0);
      expect(after.device.live - before.device.live).toBe(0);
      expect(after.stats.launches - before.stats.launches).toBe(after.stats.dispatches - before.stats.dispatches);
      const result = {
        dispatches: (after.calls.dispatches - before.calls.dispatches) / 5,
        submits: (after.calls.submits - before.calls.submits) / 5,
        counted: (after.stats.dispatches - before.stats.dispatches) / 5,
      };
      await opt.dispose();
      expect(counts().live).toBe(start); // dispose freed every buffer the optimizer made
      return result;
    };
    const four = await perStep(4);
    const many = await perStep(512);
    expect(four).toEqual({ dispatches: 3, submits: 1, counted: 3 });
    expect(many).toEqual(four);
    destroy();
    await gpu.destroy();
  });

  it('dispose frees every buffer it made; steps leave the live count flat', async () => {
    const counts = deviceCounters('webgpu');
    const baseline = counts();
    const gpu = new GPU({ mode: 'webgpu' });
    const { upload, destroy } = uploader(gpu);
    const sizes = [5, 300, 300_000];
    const params: GpuJsParam[] = await Promise.all(sizes.map(async (n, i) => ({ data: await upload(values(n, i)) })));
    const opt = new StableAdamW(params, { gpu, lr: 0.01 });
    const step = async (t: number) => {
      for (const [i, p] of params.entries()) p.grad = values(sizes[i] as number, 10 * t + i);
      await opt.step();
    };
    await step(1);
    const warm = counts().live;
    for (let t = 2; t < 10; t++) await step(t);
    expect(counts().live).toBe(warm);
    // The caller's initial tensors are left alone; the params now live in the optimizer's buffers.
    expect(params.every((p) => isDeviceTensor(p.data))).toBe(true);
    await opt.dispose();
    destroy();
    expect(counts().live - baseline.live).toBe(0);
    await gpu.destroy();
  });

  it("params come back as gpu.js results: they toArray() and feed the caller's kernels", async () => {
    const gpu = new GPU({ mode: 'webgpu' });
    const n = 1000;
    const param: GpuJsParam = { data: values(n, 1) };
    const opt = new StableAdamW([param], { gpu, lr: 0.01 });
    // ∂/∂θ of ½‖θ − 1‖², from the param buffer on the device.
    const backward = gpu.createKernel(
      function (this: IKernelFunctionThis, p: number[]): number {
        return (p[this.thread.x] as number) - 1;
      },
      { ...SETTINGS, output: [n] },
    );
    const reference = new ReferenceStableAdamW(
      [values(n, 1)],
      [{ params: [0], hyperparameters: resolveOptions({ lr: 0.01 }) }],
      'float32',
    );
    for (let t = 0; t < 3; t++) {
      const grad = (await backward(param.data as never)) as GpuJsTensor & {
        toArray(): Promise<ArrayLike<number>>;
        delete(): void;
      };
      param.grad = grad;
      const host = Float32Array.from((await grad.toArray()) as ArrayLike<number>);
      await opt.step();
      reference.step([host]);
      grad.delete();
    }
    const viaToArray = Float32Array.from(
      (await (param.data as GpuJsTensor & { toArray(): Promise<ArrayLike<number>> }).toArray()) as ArrayLike<number>,
    );
    const want = reference.params[0] as Float64Array;
    for (let j = 0; j < n; j++) expect(Math.abs((viaToArray[j] as number) - (want[j] as number))).toBeLessThan(2e-6);
    expect(Array.from(await opt.readParam(param))).toEqual(Array.from(viaToArray));
    backward.destroy();
    await opt.dispose();
    await gpu.destroy();
  });

  it('repeat runs are bit-identical', async () => {
    const gpu = new GPU({ mode: 'webgpu' });
    const run = async () => {
      const sizes = [70_000, 33, 5000];
      const params: GpuJsParam[] = sizes.map((n, i) => ({ data: values(n, i) }));
      const opt = new StableAdamW(params, { gpu, lr: 0.01, weightDecay: 0.1 });
      for (let t = 0; t < 3; t++) {
        for (const [i, p] of params.entries()) p.grad = values(sizes[i] as number, 7 * t + i);
        await opt.step();
      }
      const out = (await opt.readParams()).map((p) => Array.from(p));
      await opt.dispose();
      return out;
    };
    expect(await run()).toEqual(await run());
    await gpu.destroy();
  });

  it('a step whose submit fails changes nothing, and the next one matches the reference', async () => {
    const gpu = new GPU({ mode: 'webgpu' });
    const sizes = [5, 300];
    const init = sizes.map((n, i) => values(n, i));
    const params: GpuJsParam[] = init.map((data) => ({ data: Float32Array.from(data) }));
    const opt = new StableAdamW(params, { gpu, lr: 0.01 });
    const reference = new ReferenceStableAdamW(
      init,
      [{ params: [0, 1], hyperparameters: resolveOptions({ lr: 0.01 }) }],
      'float32',
    );
    const grads = (t: number) => sizes.map((n, i) => values(n, 10 * t + i));
    const set = (g: Float32Array[]) =>
      params.forEach((p, i) => {
        p.grad = g[i];
      });
    set(grads(1));
    await opt.step();
    reference.step(grads(1));
    const before = { params: (await opt.readParams()).map((p) => Array.from(p)), state: await opt.stateDict() };
    const failing = failNthSubmission('webgpu', 1);
    set(grads(2));
    await expect(opt.step()).rejects.toThrow(UnsupportedBackendError);
    failing.mockRestore();
    expect((await opt.readParams()).map((p) => Array.from(p))).toEqual(before.params);
    expect(await opt.stateDict()).toEqual(before.state);
    set(grads(2));
    await opt.step();
    reference.step(grads(2));
    const { maxParam, maxStateRatio } = await errors(opt, reference);
    expect(maxParam).toBeLessThan(2e-6);
    expect(maxStateRatio).toBeLessThan(1);
    await opt.dispose();
    await gpu.destroy();
  });

  it('falls back per tensor where the fused path does not run, and paths hand over state both ways', async () => {
    const gpu = new GPU({ mode: 'webgpu' });
    const sizes = [300, 300_000];
    const init = sizes.map((n, i) => values(n, i));
    const make = () => init.map((data) => ({ data: Float32Array.from(data) }) as GpuJsParam);
    // kernel: 'per-tensor' keeps gpu.js kernels; nonFinite 'skip' is decided on the device, per tensor.
    const perTensor = new StableAdamW(make(), { gpu, lr: 0.01, kernel: 'per-tensor' });
    expect(perTensor.kernelPath).toBe('per-tensor');
    const skip = new StableAdamW(make(), { gpu, lr: 0.01, nonFinite: 'skip' });
    expect(skip.kernelPath).toBe('per-tensor');
    await perTensor.dispose();
    await skip.dispose();
    // Gradient release steps per tensor between fused steps: the state moves between the layouts.
    const run = async (kernel: 'auto' | 'per-tensor') => {
      const params = make();
      const opt = new StableAdamW(params, { gpu, lr: 0.01, gradientRelease: true, kernel });
      for (let t = 1; t <= 4; t++) {
        const g = sizes.map((n, i) => values(n, 10 * t + i));
        if (t === 3) {
          for (const [i, p] of params.entries()) await opt.stepParam(p, g[i] as Float32Array);
        } else {
          params.forEach((p, i) => {
            p.grad = g[i];
          });
          await opt.step();
        }
      }
      const out = {
        path: opt.kernelPath,
        dispatches: opt.stats.dispatches,
        params: await opt.readParams(),
        state: await opt.stateDict(),
      };
      await opt.dispose();
      return out;
    };
    const fused = await run('auto');
    const baseline = await run('per-tensor');
    expect(fused.path).toBe('webgpu-multi-tensor');
    expect(fused.dispatches).toBe(9);
    expect(baseline.dispatches).toBe(0);
    fused.params.forEach((p, i) => {
      const want = baseline.params[i] as Float32Array;
      for (let j = 0; j < p.length; j++) expect(Math.abs((p[j] as number) - (want[j] as number))).toBeLessThan(2e-6);
    });
    await gpu.destroy();
  });

  it('refuses a gradient of another device before anything runs', async () => {
    const gpu = new GPU({ mode: 'webgpu' });
    const param: GpuJsParam = { data: values(8, 1) };
    const opt = new StableAdamW([param], { gpu, lr: 0.01 });
    param.grad = values(8, 2);
    await opt.step();
    const before = Array.from(await opt.readParam(param));
    const { upload, destroy } = uploader(gpu);
    const grad = await upload(values(8, 3));
    const fake = Object.assign(Object.create(Object.getPrototypeOf(grad)), grad, { context: { device: {} } });
    param.grad = fake;
    await expect(opt.step()).rejects.toThrow(InvalidParamError);
    expect(Array.from(await opt.readParam(param))).toEqual(before);
    destroy();
    await opt.dispose();
    await gpu.destroy();
  });
});
