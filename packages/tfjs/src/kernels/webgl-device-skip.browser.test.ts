import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-webgl';
// tfjs-layers registers the gradients minimize needs (and is pre-bundled for the browser project).
import '@tensorflow/tfjs-layers';
import { DeviceError, NonFiniteGradientError } from '@stable-adamw/core';
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { StableAdamW } from '../index.js';
import { seededValues as values } from '../testing/seeded-values.js';
import {
  excess,
  referenceOf,
  releaseScalerCases,
  releaseSkipCases,
  SKIP_OPTIONS,
  sharedDeviceSkipCases,
  skipModel,
  skippedCallCases,
  unique,
} from './device-skip-cases.js';

// nonFinite: 'skip' on tfjs-webgl's fused programs (WebGL2), decided on the device.

/** The backend's readbacks: synchronous (`readSync`) and asynchronous (`read`, tensor.data()). */
function spyReads() {
  const engine = tf.backend();
  return { readSync: vi.spyOn(engine, 'readSync'), read: vi.spyOn(engine, 'read') };
}

/** WebGL programs run while `fn` runs. */
function programs(fn: () => void): number {
  const spy = vi.spyOn(tf.backend() as unknown as { runWebGLProgram: () => unknown }, 'runWebGLProgram');
  try {
    fn();
    return spy.mock.calls.length;
  } finally {
    spy.mockRestore();
  }
}

describe("tfjs-webgl nonFinite: 'skip' decided on the device", () => {
  afterEach(() => vi.restoreAllMocks());

  // 1 and 3 elements: one pass, the flat samplers; 1025 and 4097: texels walked by rows, a second
  // pass; 300_001: column strips, three passes.
  it.each([
    ['host arrays', false],
    ['device textures', true],
  ])('skips the steps with NaN/±Inf gradients exactly, with no synchronous readback and no leak (%s)', async (_, onDevice) => {
    expect(await tf.setBackend('webgl')).toBe(true);
    const sizes = [1, 3, 1025, 4097, 300_001];
    const m = skipModel(sizes, SKIP_OPTIONS, onDevice);
    expect(m.opt.kernelPath).toBe('webgl-fused');
    const reference = referenceOf(sizes);
    const bad: Record<number, { at: number; value: number }> = {
      1: { at: 4, value: Number.NaN },
      3: { at: 0, value: Number.POSITIVE_INFINITY },
      4: { at: 2, value: Number.NEGATIVE_INFINITY },
      6: { at: 3, value: Number.NaN },
    };
    m.step(0);
    reference.step(sizes.map((_, i) => m.gradient(0, i)));
    await m.opt.settled();
    const before = tf.memory();
    const { readSync, read } = spyReads();
    for (let t = 1; t < 8; t++) {
      m.step(t, bad[t]);
      if (!bad[t]) reference.step(sizes.map((_, i) => m.gradient(t, i)));
    }
    expect(readSync).not.toHaveBeenCalled();
    // One asynchronous read of the counters per step.
    expect(read).toHaveBeenCalledTimes(7);
    expect(tf.memory().numTensors).toBe(before.numTensors);
    expect(tf.memory().numBytes).toBe(before.numBytes);
    // Not awaited: stateDict() waits for the counters itself.
    const mid = await m.opt.stateDict();
    expect([mid.param_groups[0]?.step, mid.skipped_steps]).toEqual([4, 4]);
    expect([m.opt.paramGroups[0]?.step, m.opt.skippedSteps, m.opt.lastStepSkipped]).toEqual([4, 4, false]);
    m.step(8, { at: 1, value: Number.NaN });
    await m.opt.settled();
    expect([m.opt.paramGroups[0]?.step, m.opt.skippedSteps, m.opt.lastStepSkipped]).toEqual([4, 5, true]);
    const sd = await m.opt.stateDict();
    expect(excess(await Promise.all(m.vars.map((v) => v.data())), reference.params)).toBeLessThanOrEqual(0);
    // The plain fused programs over the clean steps alone: the same moments bit for bit; params
    // within rounding (the RMS sum computes v′ in its own pass instead of reading the moment's texture).
    const plain = skipModel(sizes, { ...SKIP_OPTIONS, nonFinite: 'propagate' }, onDevice);
    for (let t = 0; t < 8; t++) if (!bad[t]) plain.step(t);
    expect(sd.state).toEqual((await plain.opt.stateDict()).state);
    expect(
      excess(await Promise.all(m.vars.map((v) => v.data())), await Promise.all(plain.vars.map((v) => v.data()))),
    ).toBeLessThanOrEqual(0);
    plain.dispose();
    expect(sd.skipped_steps).toBe(5);
    m.dispose();
    // Moments, variables, the counters and the chain's zero.
    expect(tf.memory().numTensors).toBe(before.numTensors - 3 * sizes.length - 2);
  });

  // The counters program, the betas table's upload (an encode program) and the read-back's decode.
  it("runs the per-variable programs plus 3 per step, for 4 tensors and for 512 (a 'propagate' step draws its own 4)", async () => {
    expect(await tf.setBackend('webgl')).toBe(true);
    const extra: number[] = [];
    for (const sizes of [[4096, 4096, 4096, 4096], Array.from({ length: 512 }, (_, i) => 32 + (i % 7) * 100)]) {
      const skip = skipModel(sizes, SKIP_OPTIONS);
      skip.step(0);
      const bad = skip.grads(1, { at: 1, value: Number.NaN });
      const skipped = programs(() => skip.opt.applyGradients(bad));
      tf.dispose(bad.map((g) => g.tensor));
      // The per-variable programs, as gradient release's stepParam runs them.
      const plain = skipModel(sizes, { ...SKIP_OPTIONS, nonFinite: 'propagate', gradientRelease: true });
      const release = (t: number) => {
        const grads = plain.grads(t);
        const n = programs(() => {
          for (const [i, v] of plain.vars.entries()) plain.opt.stepParam(v, (grads[i] as { tensor: tf.Tensor }).tensor);
        });
        tf.dispose(grads.map((g) => g.tensor));
        return n;
      };
      release(0);
      const perVariable = release(1);
      // The multi-tensor 'propagate' step draws with its own programs: through tfjs run only the
      // uploads of the host gradients (one encode program each).
      const whole = skipModel(sizes, { ...SKIP_OPTIONS, nonFinite: 'propagate' });
      whole.step(0);
      expect(programs(() => whole.step(1))).toBe(sizes.length);
      extra.push(skipped - perVariable);
      await skip.opt.settled();
      expect(skip.opt.skippedSteps).toBe(1);
      for (const m of [skip, plain, whole]) m.dispose();
    }
    expect(extra).toEqual([3, 3]);
  });

  it("keeps the synchronous readback for 'throw' and the composed kernels", async () => {
    expect(await tf.setBackend('webgl')).toBe(true);
    const thrower = skipModel([10], { lr: 1e-2, nonFinite: 'throw' });
    expect(() => thrower.step(0, { at: 0, value: Number.NaN })).toThrow(NonFiniteGradientError);
    expect(thrower.opt.paramGroups[0]?.step).toBe(0);
    expect(Array.from(await (thrower.vars[0] as tf.Variable).data())).toEqual(Array.from(values(10, 1, 1)));
    thrower.dispose();
    const composed = skipModel([10], { ...SKIP_OPTIONS, kernel: 'composed' });
    const { readSync } = spyReads();
    composed.step(0, { at: 0, value: Number.POSITIVE_INFINITY });
    expect(readSync).toHaveBeenCalledTimes(1);
    expect([composed.opt.skippedSteps, composed.opt.paramGroups[0]?.step]).toEqual([1, 0]);
    composed.dispose();
    const v = tf.variable(tf.tensor1d([1, 2]), true, unique('release'));
    const opt = new StableAdamW([v], { lr: 1e-2, nonFinite: 'skip', gradientRelease: true, kernel: 'composed' });
    const g = tf.tensor1d([Number.NaN, 1]);
    opt.stepParam(v, g);
    expect(readSync).toHaveBeenCalledTimes(2);
    expect(opt.skippedSteps).toBe(1);
    expect(Array.from(await v.data())).toEqual([1, 2]);
    opt.dispose();
    tf.dispose([v, g]);
  });

  sharedDeviceSkipCases('webgl');

  describe('gradient release (stepParam)', () => {
    // 3 elements: one sum pass; 1025: two (texels by rows); 300_001: two (column strips).
    const sizes = [3, 1025, 300_001];
    const build = (nonFinite: 'skip' | 'propagate') => {
      const vars = sizes.map((n, i) => tf.tidy(() => tf.variable(tf.tensor1d(values(n, i + 1, 1)), true, unique('param'))));
      const opt = new StableAdamW(vars, { lr: 1e-2, weightDecay: 0.1, nonFinite, gradientRelease: true });
      /** One stepParam of variable `i`; returns the programs it ran. */
      const call = (t: number, i: number, bad?: number) => {
        const g = values(sizes[i] as number, 100 * t + i, 0.1);
        if (bad !== undefined) g[0] = bad;
        const grad = tf.tensor1d(g);
        try {
          return programs(() => opt.stepParam(vars[i] as tf.Variable, grad));
        } finally {
          grad.dispose();
        }
      };
      return { vars, opt, call };
    };
    const gpuBytes = () => (tf.memory() as tf.MemoryInfo & { numBytesInGPU: number }).numBytesInGPU;

    it('runs the programs of a plain stepParam plus 3, reads nothing back synchronously and leaks nothing', async () => {
      expect(await tf.setBackend('webgl')).toBe(true);
      const skip = build('skip');
      const plain = build('propagate');
      sizes.forEach((_, i) => {
        skip.call(0, i);
        plain.call(0, i);
      });
      await skip.opt.settled();
      const before = { ...tf.memory(), gpu: gpuBytes() };
      const { readSync, read } = spyReads();
      const extra: number[][] = [];
      for (const accumulate of [false, true]) {
        skip.opt.accumulate = accumulate;
        plain.opt.accumulate = accumulate;
        extra.push(sizes.map((_, i) => skip.call(1, i, i === 1 ? Number.NaN : undefined) - plain.call(1, i)));
      }
      // Full update: the counters program, the table's upload and the read-back's decode. Moment
      // only: those and the sum passes, which the plain path runs only to update the variable.
      expect(extra).toEqual([
        [3, 3, 3],
        [4, 5, 5],
      ]);
      expect(readSync).not.toHaveBeenCalled();
      expect(read).toHaveBeenCalledTimes(2 * sizes.length);
      await skip.opt.settled();
      expect(tf.memory().numTensors).toBe(before.numTensors);
      expect(tf.memory().numBytes).toBe(before.numBytes);
      expect(gpuBytes()).toBe(before.gpu);
      expect([skip.opt.skippedSteps, skip.opt.lastStepSkipped]).toEqual([2, false]);
      const sd = await skip.opt.stateDict();
      expect(Object.values(sd.state).map((s) => s.step)).toEqual([3, 1, 3]);
      expect(sd.param_groups[0]?.step).toBe(0);
      skip.opt.dispose();
      plain.opt.dispose();
      // The moments of both, the counters and the chain's zero.
      expect(tf.memory().numTensors).toBe(before.numTensors - 4 * sizes.length - 2);
      tf.dispose([...skip.vars, ...plain.vars]);
    });

    it('a stepParam whose program fails throws a DeviceError and changes nothing', async () => {
      expect(await tf.setBackend('webgl')).toBe(true);
      const m = build('skip');
      m.call(0, 1);
      await m.opt.settled();
      const saved = await m.opt.stateDict();
      const params = await Promise.all(m.vars.map((v) => v.data()));
      const tensors = tf.memory().numTensors;
      const backend = tf.backend() as unknown as { compileAndRun: (...args: unknown[]) => unknown };
      const original = backend.compileAndRun.bind(backend);
      // The programs of one call, then a call whose last program (the update) fails.
      const spy = vi.spyOn(backend, 'compileAndRun');
      m.call(1, 1);
      const perCall = spy.mock.calls.length;
      await m.opt.settled();
      const after = await m.opt.stateDict();
      const stepped = await Promise.all(m.vars.map((v) => v.data()));
      let calls = 0;
      spy.mockImplementation((...args: unknown[]) => {
        calls += 1;
        if (calls % perCall === 0) throw new Error('mocked program failure');
        return original(...args);
      });
      expect(() => m.call(2, 1)).toThrow(DeviceError);
      expect(() => m.call(2, 1)).toThrow(
        `stepParam(${m.vars[1]?.name}) failed before changing anything (mocked program failure)`,
      );
      expect(calls).toBe(2 * perCall);
      spy.mockRestore();
      await m.opt.settled();
      expect(tf.memory().numTensors).toBe(tensors);
      expect(await m.opt.stateDict()).toEqual(after);
      expect(await Promise.all(m.vars.map((v) => v.data()))).toEqual(stepped);
      expect(stepped[1]).not.toEqual(params[1]);
      expect(after.state[1]?.step).toBe((saved.state[1]?.step as number) + 1);
      // The next call runs as usual.
      m.call(2, 1);
      await m.opt.settled();
      expect((await m.opt.stateDict()).state[1]?.step).toBe(3);
      m.opt.dispose();
      tf.dispose(m.vars);
    });

    it('a context lost during a skipped stepParam: DeviceError, the counters rolled back to before it', async () => {
      expect(await tf.setBackend('webgl')).toBe(true);
      const m = build('skip');
      m.call(0, 0);
      await m.opt.settled();
      const gl = (tf.backend() as unknown as { gpgpu: { gl: WebGL2RenderingContext } }).gpgpu.gl;
      vi.spyOn(gl, 'isContextLost').mockReturnValueOnce(false).mockReturnValue(true);
      expect(() => m.call(1, 0, Number.NaN)).toThrow(/loss of the WebGL context .* at stepParam\(/);
      // The call's read-back arrives, and is not applied.
      await expect(m.opt.settled()).rejects.toThrow(DeviceError);
      expect([m.opt.skippedSteps, m.opt.lastStepSkipped]).toEqual([0, false]);
      vi.restoreAllMocks();
      m.opt.dispose();
      tf.dispose(m.vars);
    });
  });

  // Gradient release decides on the device too: no synchronous read per stepParam.
  releaseSkipCases('webgl', { readSyncsPerCall: 0 });

  // A loss scaler under gradient release: core's step() without gradients ends each iteration.
  releaseScalerCases('webgl', 0);
  skippedCallCases('webgl');
});
