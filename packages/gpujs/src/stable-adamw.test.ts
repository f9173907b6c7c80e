import { SeededRandom } from '@stable-adamw/conformance';
import { GradientMismatchError, InvalidHyperparameterError, InvalidParamError, OptimizerDisposedError } from '@stable-adamw/core';
import { StableAdamW as CpuStableAdamW } from '@stable-adamw/cpu';
import { GPU, type Texture } from 'gpu.js';
import { describe, expect, it } from 'vitest';
import type { GpuJsParam } from './param.js';
import { StableAdamW } from './stable-adamw.js';
import { compareWithCpu } from './testing/compare-with-cpu.js';
import { launchesPerStep, packedLaunchesPerStep } from './testing/launches.js';

const modes = ['cpu', 'webasm'] as const;

describe.each(modes)('gpujs %s', (mode) => {
  it('matches the cpu adapter step for step, state dicts included', async () => {
    const result = await compareWithCpu(new GPU({ mode }), { steps: 12 });
    expect(result.maxParamError).toBeLessThan(1e-6);
    expect(result.maxStateToleranceRatio).toBeLessThan(1);
    expect(result.executedModes).toEqual([mode]);
  });

  it('launches a fixed number of kernels per step (one pack on cpu, per tensor on webasm) and reads nothing back', async () => {
    const sizes = [1, 17, 300, 5000];
    const params: GpuJsParam[] = sizes.map((n) => ({ data: new Float32Array(n).fill(0.5) }));
    const opt = new StableAdamW(params, { gpu: new GPU({ mode }), lr: 0.01 });
    expect(opt.kernelPath).toBe(mode === 'cpu' ? 'host-packed' : 'per-tensor');
    const expected = mode === 'cpu' ? packedLaunchesPerStep(true) : sizes.reduce((sum, n) => sum + launchesPerStep(n, false), 0);
    for (let t = 0; t < 4; t++) {
      for (const p of params) p.grad = new Float32Array(numel(p)).fill(t % 2 ? 0.1 : -0.3);
      const before = opt.stats.launches;
      await opt.step();
      expect(opt.stats.launches - before).toBe(expected);
    }
    expect(opt.stats.readbacks).toBe(0);
    expect(opt.stats.executedModes).toEqual([mode]);
    await opt.dispose();
  });

  it('holds three tensors per stepped param, frees the previous ones, and none after dispose', async () => {
    const params: GpuJsParam[] = [{ data: new Float32Array(40).fill(1) }, { data: new Float32Array(3).fill(1) }];
    const opt = new StableAdamW(params, { gpu: new GPU({ mode }), lr: 0.01 });
    for (let t = 0; t < 5; t++) {
      for (const p of params) p.grad = new Float32Array(numel(p)).fill(0.2);
      await opt.step();
      expect(opt.stats.liveTensors).toBe(6);
    }
    await opt.dispose();
    expect(opt.stats.liveTensors).toBe(0);
    expect(opt.stats.kernels).toBe(0);
    // The same typed error as core, cpu and tfjs give after dispose().
    expect(() => opt.step()).toThrow(OptimizerDisposedError);
    expect(() => opt.stepParam(params[0] as GpuJsParam, new Float32Array(40))).toThrow(OptimizerDisposedError);
    expect(() => opt.stateDict()).toThrow(OptimizerDisposedError);
    expect(() => opt.loadStateDict({ state: {}, param_groups: [] })).toThrow(OptimizerDisposedError);
    expect(() => opt.readParams()).toThrow(OptimizerDisposedError);
  });

  it('steps synchronously: step() returns no promise', () => {
    const p: GpuJsParam = { data: new Float32Array([1, 2]), grad: new Float32Array([0.1, 0.1]) };
    const opt = new StableAdamW([p], { gpu: new GPU({ mode }), lr: 0.1 });
    expect(opt.step()).toBeUndefined();
    expect(opt.readParams()).toHaveLength(1);
  });

  it('steps a gradient Map bit for bit like the same gradients on .grad, skipping params missing from it', async () => {
    const rng = new SeededRandom(3);
    const sizes = [3, 40, 300];
    const inits = sizes.map((n) => Float32Array.from({ length: n }, () => rng.normal()));
    const fromGrad: GpuJsParam[] = inits.map((init) => ({ data: init.slice() }));
    const fromMap: GpuJsParam[] = inits.map((init) => ({ data: init.slice() }));
    const options = { lr: 0.05, weightDecay: 0.1 };
    const viaGrad = new StableAdamW(fromGrad, { ...options, gpu: new GPU({ mode }) });
    const viaMap = new StableAdamW(fromMap, { ...options, gpu: new GPU({ mode }) });
    const bits = (values: Float32Array[]) => values.map((v) => Array.from(new Uint32Array(v.buffer, v.byteOffset, v.length)));
    for (let t = 0; t < 6; t++) {
      // Every third step spikes the gradients (RMS > 1: the clip engages); the last param sits out odd steps.
      const grads = sizes.map((n) => Float32Array.from({ length: n }, () => rng.normal() * (t % 3 === 2 ? 30 : 1)));
      const skipLast = t % 2 === 1;
      fromGrad.forEach((p, i) => {
        p.grad = skipLast && i === sizes.length - 1 ? null : (grads[i] as Float32Array);
      });
      // A stale `.grad` on the skipped param must be ignored: the map alone says what steps.
      const last = fromMap[sizes.length - 1] as GpuJsParam;
      last.grad = new Float32Array(sizes.at(-1) as number).fill(5);
      const map = new Map(fromMap.map((p, i) => [p, grads[i] as Float32Array]));
      if (skipLast) map.delete(last);
      await viaGrad.step();
      await viaMap.step(map);
      expect(bits(await viaMap.readParams())).toEqual(bits(await viaGrad.readParams()));
    }
    expect(JSON.stringify(await viaMap.stateDict())).toBe(JSON.stringify(await viaGrad.stateDict()));
    await viaGrad.dispose();
    await viaMap.dispose();
  });
});

function numel(p: GpuJsParam): number {
  return (p.data as Float32Array).length;
}

describe('validation', () => {
  const gpu = new GPU({ mode: 'cpu' });

  it("refuses precision 'unsigned' with the fix", () => {
    const make = () =>
      new StableAdamW([{ data: new Float32Array(2) }], { gpu, lr: 1e-3, precision: 'unsigned' as unknown as 'single' });
    expect(make).toThrow(InvalidHyperparameterError);
    expect(make).toThrow(/precision.*'single'.*8-bit/);
  });

  it('reads back only params it manages', () => {
    const opt = new StableAdamW([{ data: new Float32Array(2) }], { gpu, lr: 1e-3 });
    expect(() => opt.readParam({ data: new Float32Array(2) })).toThrow(/not managed by this optimizer/);
  });

  it('requires a gpu.js instance', () => {
    expect(() => new StableAdamW([{ data: new Float32Array(2) }], { lr: 1e-3 } as never)).toThrow(/`gpu` must be a gpu.js GPU/);
  });

  it('refuses textures of kernels with unsigned precision, as params and as gradients', () => {
    // Stands in for a texture of a gpu.js kernel created with precision: 'unsigned'.
    const packed = {
      output: [2],
      toArray: () => [0, 0],
      delete: () => undefined,
      kernel: { precision: 'unsigned' },
    } as unknown as Texture;
    expect(() => new StableAdamW([{ data: packed }], { gpu, lr: 1e-3 })).toThrow(InvalidParamError);
    const p: GpuJsParam = { data: new Float32Array(2), grad: packed };
    const opt = new StableAdamW([p], { gpu, lr: 1e-3 });
    expect(() => opt.step()).toThrow(/precision 'unsigned'/);
  });

  it('names the gradient problem and leaves the param alone', () => {
    const p: GpuJsParam = { data: new Float32Array([1, 2, 3]), grad: new Float32Array(2), name: 'w' };
    const opt = new StableAdamW([p], { gpu, lr: 1e-3 });
    expect(() => opt.step()).toThrow(GradientMismatchError);
    expect(() => opt.step()).toThrow(/has 2 elements but 3 are needed/);
    expect(Array.from(p.data as Float32Array)).toEqual([1, 2, 3]);
    p.grad = [0.1, 0.2, 0.3] as never;
    expect(() => opt.step()).toThrow(/not a Float32Array or a gpu.js pipeline texture/);
  });

  it('rejects 2-D textures and shapes that do not match', () => {
    const twoD = { output: [2, 3], toArray: () => [], delete: () => undefined } as unknown as Texture;
    expect(() => new StableAdamW([{ data: twoD }], { gpu, lr: 1e-3 })).toThrow(/only 1-D outputs/);
    expect(() => new StableAdamW([{ data: new Float32Array(6), shape: [4, 2] }], { gpu, lr: 1e-3 })).toThrow(/shape \[4, 2\]/);
  });

  it('accepts a cpu-adapter state dict and produces one the cpu adapter accepts', () => {
    const cpuParam = { data: new Float32Array([0.5, -1]), grad: new Float32Array([0.3, 0.1]) };
    const cpu = new CpuStableAdamW([cpuParam], { lr: 0.1 });
    cpu.step();
    const p: GpuJsParam = { data: new Float32Array([0.5, -1]) };
    const opt = new StableAdamW([p], { gpu, lr: 0.1 });
    opt.loadStateDict(JSON.parse(JSON.stringify(cpu.stateDict())));
    expect(JSON.parse(JSON.stringify(opt.stateDict()))).toEqual(JSON.parse(JSON.stringify(cpu.stateDict())));
  });
});
