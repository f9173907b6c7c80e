import { UnsupportedBackendError } from '@stable-adamw/core';
import { ReferenceStableAdamW, resolveOptions } from '@stable-adamw/core/adapter';
import { GPU } from 'gpu.js';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { KernelCache } from './kernels/kernel-cache.js';
import type { GpuJsParam } from './param.js';
import { StableAdamW } from './stable-adamw.js';
import { launchesPerStep, packedLaunchesPerStep } from './testing/launches.js';

// #14 item 5: on the host-packed path (`cpu`) the launches of a step do not depend on how many
// tensors the model has. Sizes vary (not multiples of the 16-element block) so padding is
// exercised. `webasm` steps per tensor (DeviceFacts.packsHostTensors).

const OPTIONS = { lr: 0.01, weightDecay: 0.01 };

function values(n: number, seed: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 12.9898 + i * 78.233) * (1 + (seed % 3)));
}

/** A model of `count` tensors of 1 to 97 elements, stepped 3 times; launches per step and the float64 reference's max error. */
async function stepModel(mode: 'cpu', count: number, groups: 1 | 2) {
  const sizes = Array.from({ length: count }, (_, i) => 1 + ((i * 37) % 97));
  const init = sizes.map((n, i) => values(n, i + 1));
  const params: GpuJsParam[] = init.map((data) => ({ data: Float32Array.from(data) }));
  const indices = sizes.map((_, i) => i);
  const halves = groups === 1 ? [indices] : [indices.filter((i) => i % 2 === 0), indices.filter((i) => i % 2 === 1)];
  const groupOptions = (g: number) => ({ ...OPTIONS, weightDecay: g === 0 ? 0.01 : 0 });
  const opt = new StableAdamW(
    halves.map((idx, g) => ({ params: idx.map((i) => params[i] as GpuJsParam), weightDecay: groupOptions(g).weightDecay })),
    { gpu: new GPU({ mode }), ...OPTIONS },
  );
  const reference = new ReferenceStableAdamW(
    init,
    halves.map((idx, g) => ({ params: idx, hyperparameters: resolveOptions(groupOptions(g)) })),
    'float32',
  );
  const launches: number[] = [];
  for (let t = 1; t <= 3; t++) {
    // Large gradients at step 3 make some tensors clip (RMS > 1), each by its own sum.
    const grads = sizes.map((n, i) => values(n, 1000 * t + i).map((x, j) => (t === 3 && j % 2 ? 40 * x : x)));
    params.forEach((p, i) => {
      p.grad = grads[i] as Float32Array;
    });
    const before = opt.stats.launches;
    await opt.step();
    launches.push(opt.stats.launches - before);
    reference.step(grads);
  }
  const got = await Promise.all(params.map((p) => opt.readParam(p)));
  let maxError = 0;
  got.forEach((p, i) => {
    const want = reference.params[i] as Float64Array;
    for (let j = 0; j < p.length; j++) maxError = Math.max(maxError, Math.abs((p[j] as number) - (want[j] as number)));
  });
  const clipped = reference.lastRms.filter((rms) => rms !== null && rms > 1).length;
  // Params come back as views of one packed array: the next step packs them without a copy.
  const buffer = ((params[0] as GpuJsParam).data as Float32Array).buffer;
  const shared = params.every((p) => (p.data as Float32Array).buffer === buffer);
  expect(opt.stats.readbacks).toBe(0);
  expect(opt.kernelPath).toBe('host-packed');
  await opt.dispose();
  return { launches, maxError, clipped, shared: groups === 1 ? shared : undefined };
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('gpujs webasm', () => {
  it('takes the per-tensor path', async () => {
    const opt = new StableAdamW([{ data: new Float32Array(4) }], { gpu: new GPU({ mode: 'webasm' }), ...OPTIONS });
    expect(opt.kernelPath).toBe('per-tensor');
    await opt.dispose();
  });
});

describe('gpujs cpu host-packed path', () => {
  const mode = 'cpu';
  it('launches as many kernels per step for 512 tensors as for 4, and matches the float64 reference', async () => {
    const small = await stepModel(mode, 4, 1);
    const large = await stepModel(mode, 512, 1);
    const perStep = packedLaunchesPerStep(true);
    expect(small.launches).toEqual([perStep, perStep, perStep]);
    expect(large.launches).toEqual(small.launches);
    expect(large.clipped).toBeGreaterThan(10);
    for (const run of [small, large]) {
      expect(run.maxError).toBeLessThan(2e-6);
      expect(run.shared).toBe(true);
    }
  });

  it('runs one pack per param group whose scalars differ, however many tensors each holds', async () => {
    const small = await stepModel(mode, 4, 2);
    const large = await stepModel(mode, 512, 2);
    expect(small.launches).toEqual(Array(3).fill(2 * packedLaunchesPerStep(true)));
    expect(large.launches).toEqual(small.launches);
    expect(large.maxError).toBeLessThan(2e-6);
  });

  it('undoes a step that fails at any launch of a pack: params, moments and counters as before', async () => {
    const sizes = [3, 40, 17];
    const init = sizes.map((n, i) => values(n, i + 1));
    const params: GpuJsParam[] = init.map((data) => ({ data: Float32Array.from(data) }));
    const opt = new StableAdamW(params, { gpu: new GPU({ mode }), ...OPTIONS });
    const reference = new ReferenceStableAdamW(
      init,
      [{ params: [0, 1, 2], hyperparameters: resolveOptions(OPTIONS) }],
      'float32',
    );
    const step = async (t: number) => {
      const grads = sizes.map((n, i) => values(n, 100 * t + i));
      params.forEach((p, i) => {
        p.grad = grads[i] as Float32Array;
      });
      await opt.step();
      reference.step(grads);
    };
    await step(1);
    const perStep = packedLaunchesPerStep(true);
    for (let nth = 1; nth <= perStep; nth++) {
      const before = {
        params: await opt.readParams(),
        state: JSON.stringify(await opt.stateDict()),
        step: opt.paramGroups[0]?.step,
      };
      const launch = KernelCache.prototype.launch;
      let calls = 0;
      vi.spyOn(KernelCache.prototype, 'launch').mockImplementation(function (this: KernelCache, ...args) {
        calls += 1;
        if (calls === nth) throw new Error('simulated failure');
        return launch.apply(this, args);
      });
      params.forEach((p, i) => {
        p.grad = values(sizes[i] as number, 7);
      });
      expect(() => opt.step()).toThrow(UnsupportedBackendError);
      vi.restoreAllMocks();
      expect(await opt.readParams()).toEqual(before.params);
      expect(JSON.stringify(await opt.stateDict())).toBe(before.state);
      expect(opt.paramGroups[0]?.step).toBe(before.step);
    }
    await step(2);
    const got = await opt.readParams();
    got.forEach((p, i) => {
      const want = reference.params[i] as Float64Array;
      p.forEach((x, j) => {
        expect(Math.abs(x - (want[j] as number))).toBeLessThan(2e-6);
      });
    });
    await opt.dispose();
  });

  it('splits packs at 2^18 elements and steps a larger tensor on its own, all like the reference', async () => {
    // 300 tensors of 1000 elements (1008 with padding): 260 fill the first pack, 40 the second.
    const sizes = [...Array(300).fill(1000), 300_000];
    const init = sizes.map((n, i) => values(n, i + 1));
    const params: GpuJsParam[] = init.map((data) => ({ data: Float32Array.from(data) }));
    const opt = new StableAdamW(params, { gpu: new GPU({ mode }), ...OPTIONS });
    const reference = new ReferenceStableAdamW(
      init,
      [{ params: sizes.map((_, i) => i), hyperparameters: resolveOptions(OPTIONS) }],
      'float32',
    );
    for (let t = 1; t <= 2; t++) {
      const grads = sizes.map((n, i) => values(n, 1000 * t + i));
      params.forEach((p, i) => {
        p.grad = grads[i] as Float32Array;
      });
      const before = opt.stats.launches;
      await opt.step();
      expect(opt.stats.launches - before).toBe(2 * packedLaunchesPerStep(true) + launchesPerStep(300_000, true));
      reference.step(grads);
    }
    const got = await opt.readParams();
    let maxError = 0;
    got.forEach((p, i) => {
      const want = reference.params[i] as Float64Array;
      for (let j = 0; j < p.length; j++) maxError = Math.max(maxError, Math.abs((p[j] as number) - (want[j] as number)));
    });
    expect(maxError).toBeLessThan(2e-6);
    await opt.dispose();
  });
});
