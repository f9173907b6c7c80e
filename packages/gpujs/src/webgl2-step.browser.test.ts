import { UnsupportedBackendError } from '@stable-adamw/core';
import { ReferenceStableAdamW, resolveOptions } from '@stable-adamw/core/adapter';
import { GPU } from 'gpu.js';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { GpuJsParam } from './param.js';
import { StableAdamW } from './stable-adamw.js';
import { isDeviceTensor } from './tensor.js';
import { deviceCounters, failNthSubmission, protoOf } from './testing/device-counters.js';
import { webgl2DrawsPerStep } from './testing/launches.js';
import { uploader } from './testing/uploader.js';

// #14 on webgl2: the `webgl2-programs` path (webgl2-step.ts) against the float64 reference, its
// draw count per step for 4 and 512 tensors, zero readbacks, flat texture counts, and a draw
// that fails part-way.

const OPTIONS = { lr: 0.01, weightDecay: 0.01 };

/** Deterministic values in about [-scale, scale] that differ per element, tensor and step. */
function values(n: number, seed: number, scale: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => (Math.sin(seed * 12.9898 + i * 78.233) * 0.9 + 0.05) * scale);
}

/**
 * A model of `sizes` with texture gradients (every third tensor's spiky enough to clip), its
 * float64 reference, and a spy on the context's draw calls unless `spyDraws` is false (a second
 * spy on `drawArrays`, as failNthSubmission installs, would wrap this one).
 */
function model(sizes: readonly number[], spyDraws = true) {
  const counts = deviceCounters('webgl2');
  const baseline = counts();
  const draws = spyDraws ? vi.spyOn(protoOf('WebGL2RenderingContext'), 'drawArrays') : undefined;
  const gpu = new GPU({ mode: 'webgl2' });
  const { upload, destroy } = uploader(gpu);
  const init = sizes.map((n, i) => values(n, 100 + i, 1));
  const params: GpuJsParam[] = init.map((data) => ({ data: Float32Array.from(data) }));
  const opt = new StableAdamW(params, { gpu, ...OPTIONS });
  const indices = sizes.map((_, i) => i);
  const reference = new ReferenceStableAdamW(init, [{ params: indices, hyperparameters: resolveOptions(OPTIONS) }], 'float32');
  let seed = 0;
  /** The next step's gradients, as the caller's textures; the reference steps with them. */
  const nextGrads = async () => {
    seed += 1;
    const host = sizes.map((n, i) => values(n, seed * 1000 + i, i % 3 === 0 ? 40 : 0.5));
    for (const [i, p] of params.entries()) {
      if (isDeviceTensor(p.grad)) p.grad.delete(); // the caller's, done with after its step
      p.grad = await upload(host[i] as Float32Array);
    }
    return host;
  };
  /** One step; returns its draws (counted on the context and by the optimizer) and readbacks. */
  const step = async () => {
    const host = await nextGrads();
    const before = { calls: draws?.mock.calls.length ?? 0, draws: opt.stats.draws, readbacks: counts().readbacks };
    opt.step();
    reference.step(host);
    return {
      calls: (draws?.mock.calls.length ?? 0) - before.calls,
      draws: opt.stats.draws - before.draws,
      readbacks: counts().readbacks - before.readbacks,
    };
  };
  const maxError = async () => {
    let max = 0;
    (await opt.readParams()).forEach((p, i) => {
      const want = reference.params[i] as Float64Array;
      p.forEach((x, j) => {
        max = Math.max(max, Math.abs(x - (want[j] as number)));
      });
    });
    return max;
  };
  const close = async () => {
    await opt.dispose();
    destroy();
    expect(opt.stats.liveTensors).toBe(0);
    expect(counts().live - baseline.live).toBe(0); // programs' outputs, pool and scratch textures all freed
    await gpu.destroy();
  };
  return { opt, params, counts, nextGrads, step, maxError, close };
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('gpujs webgl2: the webgl2-programs path', () => {
  it('draws three or four times per tensor for 4 and 512 tensors, like the float64 reference, reading nothing back', async () => {
    // Tensors up to 2^14 elements sum in one draw; 20000 and 70001 in column strips, then their sum.
    for (const sizes of [[5, 300, 20_000, 70_001], Array.from({ length: 512 }, (_, i) => 1 + ((i * 37) % 97))]) {
      const m = model(sizes);
      await m.step(); // uploads the host params and zero moments through gpu.js's copy kernel
      await m.step(); // from here on each step's outputs take the textures the previous step replaced
      const warm = m.counts();
      const expected = sizes.reduce((sum, n) => sum + webgl2DrawsPerStep(n), 0);
      for (let t = 0; t < 3; t++) expect(await m.step()).toEqual({ calls: expected, draws: expected, readbacks: 0 });
      expect(m.opt.kernelPath).toBe('webgl2-programs');
      expect(m.opt.stats.executedModes).toEqual(['webgl2']);
      expect(m.counts().live - warm.live).toBe(0); // outputs reuse the textures of what they replace
      expect(await m.maxError()).toBeLessThan(2e-6);
      await m.close();
    }
  });

  it('undoes a step whose draw fails part-way: typed error, params, moments and counters as before', async () => {
    const m = model([5, 300], false);
    await m.step();
    await m.step();
    const before = { params: await m.opt.readParams(), state: await m.opt.stateDict(), owned: m.opt.stats.liveTensors };
    await m.nextGrads();
    // The fourth draw is the second tensor's moments.
    const draws = m.opt.stats.draws;
    const failing = failNthSubmission('webgl2', 4);
    expect(() => m.opt.step()).toThrow(UnsupportedBackendError);
    expect(m.opt.stats.draws - draws).toBe(4);
    failing.mockRestore();
    expect(m.opt.paramGroups[0]?.step).toBe(2);
    expect(m.opt.stats.liveTensors).toBe(before.owned);
    expect(await m.opt.readParams()).toEqual(before.params);
    expect(await m.opt.stateDict()).toEqual(before.state);
    expect((await m.step()).draws).toBe(6); // the next step, on a healthy device
    expect(await m.maxError()).toBeLessThan(2e-6);
    await m.close();
  });
});
