/// <reference types="@webgpu/types" />
import '@tensorflow/tfjs-backend-webgpu';
import { DeviceError, StableAdamWError } from '@stable-adamw/core';
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { StableAdamW } from './index.js';
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

/** Two variables, their optimizer and seeded gradients for step `t` (yours to dispose). */
function setup() {
  // Inside tidy: the tensors the variables start from are freed.
  const a = tf.tidy(() => tf.variable(tf.tensor1d([1, -2, 3]), true, unique('a')));
  const b = tf.tidy(() => tf.variable(tf.tensor2d([0.5, 0.25, 1, 2], [2, 2]), true, unique('b')));
  const opt = new StableAdamW([a, b], { lr: 1e-2 });
  const grads = (t: number) => ({
    [a.name]: tf.tensor1d([0.1 * t, -0.2, 0.3]),
    [b.name]: tf.tensor2d([1, t, -1, 0.5], [2, 2]),
  });
  const step = (t: number) => {
    const g = grads(t);
    try {
      opt.applyGradients(g);
    } finally {
      tf.dispose(g);
    }
  };
  return { a, b, opt, step };
}

/** What step 1 of `setup()` gives, from an optimizer that never saw a failure. */
async function cleanStep1(): Promise<number[][]> {
  const { a, b, opt, step } = setup();
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
});
