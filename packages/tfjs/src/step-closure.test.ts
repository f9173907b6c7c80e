import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { InvalidParamError } from '@stable-adamw/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { StableAdamW } from './index.js';

const unique = (name: string) => `${name}_${Math.random().toString(36).slice(2)}`;

describe('tfjs step(closure)', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it("returns the closure's loss and takes optimi's first step: θ − lr·sign(g) with no decay", async () => {
    // Step 1 of StableAdamW: m̂ = g, v̂ = g², RMS(g²/v̂) = 1, so θ ← θ − lr·g/(|g| + ε) (hand-derived).
    const w = tf.variable(tf.tensor1d([1, -2, 3]), true, unique('closure_w'));
    const opt = new StableAdamW([w], { lr: 0.1, weightDecay: 0 });
    const loss = opt.step(() => tf.sum(tf.square(w)));
    expect(await loss.data()).toEqual(Float32Array.from([14]));
    const g = [2, -4, 6];
    const expected = [1, -2, 3].map((x, i) => Math.fround(x - (0.1 * (g[i] as number)) / (Math.abs(g[i] as number) + 1e-6)));
    Array.from(await w.data()).forEach((x, i) => {
      expect(x).toBeCloseTo(expected[i] as number, 6);
    });
    loss.dispose();
    opt.dispose();
    w.dispose();
  });

  it('refuses a non-function with a typed error, changing nothing', async () => {
    const w = tf.variable(tf.tensor1d([1]), true, unique('closure_bad'));
    const opt = new StableAdamW([w], { lr: 0.1 });
    expect(() => opt.step(null as unknown as () => tf.Scalar)).toThrow(InvalidParamError);
    expect(opt.iterations).toBe(0);
    expect(await w.data()).toEqual(Float32Array.from([1]));
    opt.dispose();
    w.dispose();
  });
});
