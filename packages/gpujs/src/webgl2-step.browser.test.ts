import { UnsupportedBackendError } from '@stable-adamw/core';
import { ReferenceStableAdamW, resolveOptions } from '@stable-adamw/core/adapter';
import { GPU, type IKernelFunctionThis } from 'gpu.js';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { GpuJsParam } from './param.js';
import { StableAdamW } from './stable-adamw.js';
import { type GpuJsTensor, isDeviceTensor } from './tensor.js';
import { deviceCounters, failNthSubmission, protoOf } from './testing/device-counters.js';
import { uploader } from './testing/uploader.js';
import { PACK_DRAWS, PACKED_MAX, WHOLE_SUM_MAX } from './webgl2-pack.js';
import { WebGL2Programs } from './webgl2-step.js';

// #14 on webgl2: the `webgl2-programs` path (webgl2-step.ts, webgl2-pack.ts) against the float64
// reference and gpu.js's per-tensor kernels: four draws per step for 4 and for 512 tensors (and
// the per-tensor programs' three or four for a tensor past PACKED_MAX), copies that are not
// draws, zero readbacks, flat texture counts, a draw that fails part-way, and gpu.js kernels
// that still work after a step.

const OPTIONS = { lr: 0.01, weightDecay: 0.01 };
/** The second group's weight decay (odd-indexed tensors). */
const DECAY_2 = 0.3;

/** Deterministic values in about [-scale, scale] that differ per element, tensor and step. */
function values(n: number, seed: number, scale: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => (Math.sin(seed * 12.9898 + i * 78.233) * 0.9 + 0.05) * scale);
}

/**
 * A model of `sizes` in two weight-decay groups (even and odd indices) with texture gradients
 * (host ones if `host`), every third tensor's growing tenfold a step so its RMS clips, its float64
 * reference, and spies on the context's draws and copies unless `spy` is false (a second spy on
 * `drawArrays`, as failNthSubmission installs, would wrap this one).
 */
function model(
  sizes: readonly number[],
  { spy = true, host = false, kernel = 'auto' as 'auto' | 'per-tensor', gpu = new GPU({ mode: 'webgl2' }) } = {},
) {
  const counts = deviceCounters('webgl2');
  const baseline = counts();
  const gl = protoOf('WebGL2RenderingContext');
  const draws = spy ? vi.spyOn(gl, 'drawArrays') : undefined;
  const copies = spy ? vi.spyOn(gl, 'copyTexSubImage2D') : undefined;
  const { upload, destroy } = uploader(gpu);
  const init = sizes.map((n, i) => values(n, 100 + i, 1));
  const params: GpuJsParam[] = init.map((data) => ({ data: Float32Array.from(data) }));
  const even = sizes.map((_, i) => i).filter((i) => i % 2 === 0);
  const odd = sizes.map((_, i) => i).filter((i) => i % 2 === 1);
  const groups = [
    { params: even.map((i) => params[i] as GpuJsParam) },
    { params: odd.map((i) => params[i] as GpuJsParam), weightDecay: DECAY_2 },
  ];
  const opt = new StableAdamW(groups, { gpu, kernel, ...OPTIONS });
  const reference = new ReferenceStableAdamW(
    init,
    [
      { params: even, hyperparameters: resolveOptions(OPTIONS) },
      { params: odd, hyperparameters: resolveOptions({ ...OPTIONS, weightDecay: DECAY_2 }) },
    ],
    'float32',
  );
  let seed = 0;
  /** The next step's gradients, as the caller's textures (or host arrays); the reference steps with them. */
  const nextGrads = async () => {
    seed += 1;
    const grads = sizes.map((n, i) => values(n, seed * 1000 + i, i % 3 === 0 ? 10 ** seed : 0.5));
    for (const [i, p] of params.entries()) {
      if (isDeviceTensor(p.grad)) p.grad.delete(); // the caller's, done with after its step
      p.grad = host ? Float32Array.from(grads[i] as Float32Array) : await upload(grads[i] as Float32Array);
    }
    return grads;
  };
  /** One step; returns its draws (counted on the context and by the optimizer), copies and readbacks. */
  const step = async () => {
    const grads = await nextGrads();
    const before = {
      calls: draws?.mock.calls.length ?? 0,
      copies: copies?.mock.calls.length ?? 0,
      draws: opt.stats.draws,
      readbacks: counts().readbacks,
    };
    opt.step();
    reference.step(grads);
    return {
      calls: (draws?.mock.calls.length ?? 0) - before.calls,
      draws: opt.stats.draws - before.draws,
      copies: (copies?.mock.calls.length ?? 0) - before.copies,
      readbacks: counts().readbacks - before.readbacks,
    };
  };
  const read = () => Promise.all(params.map((p) => opt.readParam(p)));
  const maxError = async () => {
    let max = 0;
    (await read()).forEach((p, i) => {
      const want = reference.params[i] as Float64Array;
      p.forEach((x, j) => {
        max = Math.max(max, Math.abs(x - (want[j] as number)));
      });
    });
    return max;
  };
  const close = async (destroyGpu = true) => {
    await opt.dispose();
    destroy();
    expect(opt.stats.liveTensors).toBe(0);
    if (destroyGpu) {
      expect(counts().live - baseline.live).toBe(0); // outputs, packs, pool and scratch textures all freed
      await gpu.destroy();
    }
  };
  return { opt, params, reference, upload, counts, nextGrads, step, read, maxError, close };
}

/** 512 tensors of odd sizes from 1 to 20000, a few past WHOLE_SUM_MAX (few distinct sizes: each compiles upload kernels). */
const MANY = Array.from({ length: 512 }, (_, i) => (i % 64 === 7 ? 20_000 : ([1, 5, 300, 97, 1000, 4099][i % 6] as number)));

afterEach(() => {
  vi.restoreAllMocks();
});

describe('gpujs webgl2: the webgl2-programs path', () => {
  it('draws four times per step for 4 and for 512 tensors, copies instead of drawing, like the float64 reference, reading nothing back', async () => {
    expect(MANY.some((n) => n > WHOLE_SUM_MAX)).toBe(true);
    for (const sizes of [[1, 5, 300, 20_000], MANY]) {
      const m = model(sizes);
      await m.step(); // uploads the host params and zero moments through gpu.js's copy kernel
      await m.step(); // from here on each step's outputs take the textures the previous step replaced
      const warm = m.counts();
      // Each gradient copied in, each new m, v and θ copied out; m, v and θ are in the pack already.
      const expected = { calls: PACK_DRAWS, draws: PACK_DRAWS, copies: 4 * sizes.length, readbacks: 0 };
      for (let t = 0; t < 3; t++) expect(await m.step()).toEqual(expected);
      expect(m.opt.kernelPath).toBe('webgl2-programs');
      expect(m.opt.stats.executedModes).toEqual(['webgl2']);
      expect(m.counts().live - warm.live).toBe(0); // outputs reuse the textures of what they replace
      expect(await m.maxError()).toBeLessThan(2e-6);
      await m.close();
    }
  });

  it('matches the per-tensor programs bit for bit, host gradients included, and keeps a tensor past PACKED_MAX on them', async () => {
    // Tensors 0 and 3 clip: their updates depend on the sum (the largest in column strips).
    const sizes = [PACKED_MAX, 5, 300, 20_000, 1, PACKED_MAX + 1];
    const gpu = new GPU({ mode: 'webgl2' });
    const packed = model(sizes, { host: true, gpu });
    const perTensor = model(sizes, { host: true, gpu, spy: false });
    for (let t = 0; t < 4; t++) {
      const { draws } = await packed.step();
      WebGL2Programs.packedMax = 0;
      try {
        expect((await perTensor.step()).draws).toBe(4 + 3 + 3 + 4 + 3 + 4);
      } finally {
        WebGL2Programs.packedMax = PACKED_MAX;
      }
      expect(draws).toBe(PACK_DRAWS + 4); // the pack, then moments, strips, their sum and update of the largest
    }
    const [a, b] = [await packed.read(), await perTensor.read()];
    expect(a.map((values, i) => values.every((x, j) => x === b[i]?.[j]))).toEqual(sizes.map(() => true));
    expect(await packed.maxError()).toBeLessThan(2e-6);
    await packed.close(false);
    await perTensor.close(false);
    await gpu.destroy();
  });

  it('copies in a param it did not write, and leaves gpu.js kernels working: a kernel of the caller reads the new param textures', async () => {
    const gpu = new GPU({ mode: 'webgl2' });
    const m = model([5, 300, 20_000], { gpu });
    for (let t = 0; t < 3; t++) await m.step();
    // New param values of the caller's, not the texture the pack copied out, are copied in.
    const fresh = values(300, 7, 1);
    (m.params[1] as GpuJsParam).data = Float32Array.from(fresh);
    m.reference.params[1] = Float64Array.from(fresh);
    expect((await m.step()).copies).toBe(4 * 3 + 1);
    expect((await m.step()).copies).toBe(4 * 3);
    expect(await m.maxError()).toBeLessThan(2e-6);
    const expected = await m.read();
    for (const [i, p] of m.params.entries()) {
      const n = (expected[i] as Float32Array).length;
      const kernel = gpu.createKernel(
        function (this: IKernelFunctionThis, a: number[]): number {
          return (a[this.thread.x] as number) * 2 + 1;
        },
        { output: [n], precision: 'single', tactic: 'precision' },
      );
      const doubled = kernel(p.data as GpuJsTensor) as Float32Array;
      expect(Array.from(doubled)).toEqual(Array.from(expected[i] as Float32Array, (x) => Math.fround(x * 2 + 1)));
      kernel.destroy();
    }
    await m.close();
  });

  it('undoes a step whose draw fails part-way: typed error, params, moments and counters as before', async () => {
    const m = model([5, 300, 20_000], { spy: false });
    await m.step();
    await m.step();
    const before = { params: await m.read(), state: await m.opt.stateDict(), owned: m.opt.stats.liveTensors };
    await m.nextGrads();
    // The second draw is the pack's partial sums: the moments are drawn, nothing copied out.
    const draws = m.opt.stats.draws;
    const failing = failNthSubmission('webgl2', 2);
    expect(() => m.opt.step()).toThrow(UnsupportedBackendError);
    expect(m.opt.stats.draws - draws).toBe(2);
    failing.mockRestore();
    expect(m.opt.paramGroups[0]?.step).toBe(2);
    expect(m.opt.stats.liveTensors).toBe(before.owned);
    expect(await m.read()).toEqual(before.params);
    expect(await m.opt.stateDict()).toEqual(before.state);
    expect((await m.step()).draws).toBe(PACK_DRAWS); // the next step, on a healthy device
    expect(await m.maxError()).toBeLessThan(2e-6);
    await m.close();
  });
});
