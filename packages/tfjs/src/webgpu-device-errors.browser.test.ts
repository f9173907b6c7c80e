/// <reference types="@webgpu/types" />
import '@tensorflow/tfjs-backend-webgpu';
// tfjs-layers registers the gradients minimize needs (and is pre-bundled for the browser project).
import '@tensorflow/tfjs-layers';
import { DeviceError, StableAdamWError } from '@stable-adamw/core';
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { prepareForGradientRelease, StableAdamW, type TfjsStableAdamWOptions } from './index.js';
import { activeWebGPU, type WebGPUBackendLike } from './kernels/webgpu-multi-tensor.js';

const unique = (tag: string) => `${tag}_${Math.random()}`;

/** Device bytes and tensors in use: what an optimizer's dispose must bring back. */
function inUse() {
  const m = tf.memory() as tf.MemoryInfo & { numBytesInGPU: number };
  return { numTensors: m.numTensors, numBytes: m.numBytes, numBytesInGPU: m.numBytesInGPU };
}

/** Lets the device's promises (error scopes, submitted-work callbacks) settle. */
async function settle(backend: WebGPUBackendLike): Promise<void> {
  await backend.device.queue.onSubmittedWorkDone();
  await new Promise((resolve) => setTimeout(resolve, 0));
}

/**
 * Runs `fn` with `tensor`'s GPU buffer swapped, behind tfjs's back, for a destroyed one of the same
 * size: every submit of a command that uses it is a validation error.
 */
function withDestroyedBuffer<T>(backend: WebGPUBackendLike, tensor: tf.Tensor, fn: () => T): T {
  backend.uploadToGPU(tensor.dataId);
  const data = backend.tensorMap.get(tensor.dataId) as { resource: GPUBuffer };
  const own = data.resource;
  const dead = backend.device.createBuffer({ size: own.size, usage: own.usage });
  dead.destroy();
  data.resource = dead;
  try {
    return fn();
  } finally {
    data.resource = own;
  }
}

/**
 * Two variables, their optimizer and seeded gradients for step `t` (yours to dispose); `step(t,
 * broken)` runs `broken` (default: the step itself) with b's gradient.
 */
function setup(options: Partial<TfjsStableAdamWOptions> = {}) {
  // Inside tidy: the tensors the variables start from are freed.
  const a = tf.tidy(() => tf.variable(tf.tensor1d([1, -2, 3]), true, unique('a')));
  const b = tf.tidy(() => tf.variable(tf.tensor2d([0.5, 0.25, 1, 2], [2, 2]), true, unique('b')));
  const opt = new StableAdamW([a, b], { lr: 1e-2, ...options });
  const grads = (t: number) => ({
    [a.name]: tf.tensor1d([0.1 * t, -0.2, 0.3]),
    [b.name]: tf.tensor2d([1, t, -1, 0.5], [2, 2]),
  });
  const step = (t: number, around: (gradB: tf.Tensor, run: () => void) => void = (_, run) => run()) => {
    const g = grads(t);
    try {
      around(g[b.name] as tf.Tensor, () => {
        if (!options.gradientRelease) opt.applyGradients(g);
        else for (const v of [a, b]) opt.stepParam(v, g[v.name] as tf.Tensor);
      });
    } finally {
      tf.dispose(g);
    }
  };
  return { a, b, opt, step };
}

/** What step 1 of `setup(options)` gives, from an optimizer that never saw a failure. */
async function cleanStep1(options: Partial<TfjsStableAdamWOptions> = {}): Promise<number[][]> {
  const { a, b, opt, step } = setup(options);
  step(1);
  const out = [Array.from(await a.data()), Array.from(await b.data())];
  opt.dispose();
  tf.dispose([a, b]);
  return out;
}

describe('tfjs-webgpu: a device error after submit', () => {
  let backend: WebGPUBackendLike;
  beforeAll(async () => {
    expect(await tf.setBackend('webgpu')).toBe(true);
    backend = activeWebGPU() as WebGPUBackendLike;
  });
  afterEach(() => vi.restoreAllMocks());

  it('a validation error (a destroyed variable buffer) fails the optimizer with counters rolled back, and dispose frees it all', async () => {
    const expected = await cleanStep1();
    const baseline = inUse();
    const { a, b, opt, step } = setup();
    step(1);
    await settle(backend);
    // b's buffer is swapped for a destroyed one behind tfjs's back: the step's submit is invalid.
    const data = backend.tensorMap.get(b.dataId) as { resource: GPUBuffer };
    const own = data.resource;
    const dead = backend.device.createBuffer({ size: own.size, usage: own.usage });
    dead.destroy();
    data.resource = dead;
    const mapAsync = vi.spyOn(GPUBuffer.prototype, 'mapAsync');
    step(2);
    // Nothing is read back, and nothing is thrown before the device answers.
    expect(mapAsync).not.toHaveBeenCalled();
    expect(opt.iterations).toBe(2);
    data.resource = own;
    await settle(backend);
    expect(opt.paramGroups[0]?.step).toBe(1);
    expect(opt.iterations).toBe(1);
    expect(() => step(3)).toThrow(DeviceError);
    expect(() => step(3)).toThrow(/validation error.*iterations = 1.*rolled back/);
    expect(opt.paramGroups[0]?.step).toBe(1);
    expect(() => opt.stateDict()).toThrow(StableAdamWError);
    await expect(opt.getWeights()).rejects.toThrow(DeviceError);
    opt.dispose();
    tf.dispose([a, b]);
    expect(inUse()).toEqual(baseline);
    // The device and tfjs are fine: a fresh optimizer steps as one that never saw the failure.
    expect(await cleanStep1()).toEqual(expected);
  });

  it("nonFinite: 'skip' (counters on the device): a failed step rolls them back to the device's after the step before", async () => {
    const baseline = inUse();
    const { a, b, opt, step } = setup({ nonFinite: 'skip' });
    step(1);
    await opt.settled();
    // Step 2 is not read back yet when step 3 fails: the rollback waits for it.
    step(2);
    step(3, (gradB, run) => withDestroyedBuffer(backend, gradB, run));
    await settle(backend);
    await settle(backend);
    expect([opt.iterations, opt.paramGroups[0]?.step, opt.skippedSteps]).toEqual([2, 2, 0]);
    expect(() => step(4)).toThrow(/validation error.*iterations = 2.*rolled back/);
    await expect(opt.settled()).rejects.toThrow(DeviceError);
    opt.dispose();
    tf.dispose([a, b]);
    expect(inUse()).toEqual(baseline);
  });

  it('a lost device fails every optimizer on it; counters keep the confirmed steps only', async () => {
    const expected = await cleanStep1();
    const baseline = inUse();
    let lose: (info: GPUDeviceLostInfo) => void = () => undefined;
    const lost = new Promise<GPUDeviceLostInfo>((resolve) => {
      lose = resolve;
    });
    vi.spyOn(GPUDevice.prototype, 'lost', 'get').mockReturnValue(lost);
    const confirmed = setup();
    const unconfirmed = setup();
    for (const m of [confirmed, unconfirmed]) m.step(1);
    confirmed.step(2);
    await settle(backend);
    unconfirmed.step(2);
    // Lost before the queue confirmed unconfirmed's step 2.
    lose({ reason: 'unknown', message: 'mocked loss' } as GPUDeviceLostInfo);
    await Promise.resolve();
    vi.restoreAllMocks();
    expect([confirmed.opt.iterations, confirmed.opt.paramGroups[0]?.step]).toEqual([2, 2]);
    expect([unconfirmed.opt.iterations, unconfirmed.opt.paramGroups[0]?.step]).toEqual([1, 1]);
    for (const m of [confirmed, unconfirmed]) {
      expect(() => m.step(3)).toThrow(/loss of the WebGPU device \(unknown: mocked loss\)/);
      expect(() => m.opt.stateDict()).toThrow(DeviceError);
      await expect(m.opt.getWeights()).rejects.toThrow(DeviceError);
      m.opt.dispose();
      tf.dispose([m.a, m.b]);
    }
    await settle(backend);
    expect(inUse()).toEqual(baseline);
    expect(await cleanStep1()).toEqual(expected);
  });
  // tfjs-backend-webgpu submits its queued dispatches every WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE (15);
  // raised here, the composed step's ops would all be submitted after the step without the flush.
  it.each([
    ['applyGradients, composed kernels', { kernel: 'composed' }],
    ['stepParam, fused kernels', { gradientRelease: true }],
    ['stepParam, composed kernels', { gradientRelease: true, kernel: 'composed' }],
  ] as [string, Partial<TfjsStableAdamWOptions>][])(
    '%s: a destroyed gradient buffer is caught by the step that submitted it',
    async (_, options) => {
      const expected = await cleanStep1(options);
      const baseline = inUse();
      const batch = tf.env().get('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE');
      tf.env().set('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE', 10_000);
      try {
        const { a, b, opt, step } = setup(options);
        step(1);
        await settle(backend);
        const mapAsync = vi.spyOn(GPUBuffer.prototype, 'mapAsync');
        step(2, (gradB, run) => withDestroyedBuffer(backend, gradB, run));
        expect(mapAsync).not.toHaveBeenCalled();
        await settle(backend);
        expect([opt.iterations, opt.paramGroups[0]?.step]).toEqual([
          options.gradientRelease ? 0 : 1,
          options.gradientRelease ? 0 : 1,
        ]);
        const where = options.gradientRelease ? `stepParam\\(${b.name}\\)` : 'the step';
        expect(() => step(3)).toThrow(DeviceError);
        expect(() => step(3)).toThrow(new RegExp(`validation error.*at ${where} after iterations = \\d.*rolled back`));
        expect(() => opt.stateDict()).toThrow(DeviceError);
        opt.dispose();
        tf.dispose([a, b]);
      } finally {
        tf.env().set('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE', batch);
      }
      expect(inUse()).toEqual(baseline);
      expect(await cleanStep1(options)).toEqual(expected);
    },
  );

  it('gradient release through minimize: a device error in a release hook rolls back iterations', async () => {
    const { a, b, opt } = setup({ gradientRelease: true });
    const release = prepareForGradientRelease([a, b], opt);
    const loss = () => tf.add(tf.sum(tf.square(release.read(a))), tf.sum(tf.mul(release.read(b), 2))) as tf.Scalar;
    opt.minimize(loss);
    await settle(backend);
    expect(opt.iterations).toBe(1);
    // The device reports an error for the next minimize's hooks (the real scopes are still popped).
    const pop = GPUDevice.prototype.popErrorScope;
    const popped = vi.spyOn(GPUDevice.prototype, 'popErrorScope').mockImplementation(function (this: GPUDevice) {
      return pop.call(this).then(() => ({ message: 'mocked\n  error' }) as GPUError);
    });
    opt.minimize(loss);
    expect(popped).toHaveBeenCalled();
    vi.restoreAllMocks();
    expect(opt.iterations).toBe(2);
    await settle(backend);
    expect(opt.iterations).toBe(1);
    expect(() => opt.minimize(loss)).toThrow(/error \(mocked error\) at stepParam\(.*\) after iterations = 1/);
    opt.dispose();
    tf.dispose([a, b]);
  });
});
