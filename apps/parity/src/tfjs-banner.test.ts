import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { muteTfjsNodeBanner } from './tfjs-banner.js';

/** A fresh tfjs cpu backend under its own name: it prints the banner on its first tensor. */
async function firstTensorOnFreshCpu(name: string): Promise<void> {
  tf.registerBackend(name, () => new MathBackendCPU());
  await tf.setBackend(name);
  tf.tensor([1, 2, 3]).dispose();
}

const bannerCalls = (warn: { mock: { calls: unknown[][] } }) =>
  warn.mock.calls.filter((c) => String(c[0]).includes('looks like you are running TensorFlow.js in Node.js'));

afterEach(() => vi.restoreAllMocks());

describe('muteTfjsNodeBanner', () => {
  it("drops tfjs's Node banner while muted, and only that message", async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    const unmute = muteTfjsNodeBanner();
    await firstTensorOnFreshCpu('cpu-muted');
    console.warn('another warning', 1);
    unmute();
    expect(bannerCalls(warn)).toEqual([]);
    expect(warn.mock.calls).toEqual([['another warning', 1]]);
    // Restored: a fresh backend prints it again, so the check above is not vacuous.
    await firstTensorOnFreshCpu('cpu-unmuted');
    expect(bannerCalls(warn)).toHaveLength(1);
  });
});
