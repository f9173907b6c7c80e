import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { StableAdamW } from './index.js';

const unique = (name: string) => `${name}_${Math.random().toString(36).slice(2)}`;
const grads = (t: number) => ({ a: [0.2, -0.1 * t, 0.05, 0.3], b: [0.01 * t, -0.4] });

/** Steps `a` and `b` six times; with `resumeAt`, saves a checkpoint there and resumes in a new optimizer whose variables come in the other order. */
async function train(resumeAt?: number): Promise<number[][]> {
  const names = { a: unique('ckpt_a'), b: unique('ckpt_b') };
  const a = tf.variable(tf.tensor2d([0.5, -1, 2, 0.25], [2, 2]), true, names.a);
  const b = tf.variable(tf.tensor1d([0.1, -0.3]), true, names.b);
  let opt = new StableAdamW([a, b], { lr: 1e-2, weightDecay: 0.1 });
  for (let t = 0; t < 6; t++) {
    if (t === resumeAt) {
      const bytes = await opt.saveCheckpoint({ layout: 'torch-adamw' });
      opt.dispose();
      opt = new StableAdamW([b, a], { lr: 1e-2, weightDecay: 0.1 });
      opt.loadCheckpoint(bytes, { layout: 'torch-adamw' });
    }
    const g = grads(t);
    tf.tidy(() => opt.applyGradients({ [names.a]: tf.tensor2d(g.a, [2, 2]), [names.b]: tf.tensor1d(g.b) }));
  }
  const out = [Array.from(await a.data()), Array.from(await b.data())];
  opt.dispose();
  a.dispose();
  b.dispose();
  return out;
}

describe('tfjs saveCheckpoint / loadCheckpoint', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it("resumes from torch AdamW's layout by variable name, within float32 tolerance of an uninterrupted run", async () => {
    const [uninterrupted, resumed] = [await train(), await train(3)];
    resumed.forEach((values, i) => {
      values.forEach((x, j) => {
        const expected = (uninterrupted[i] as number[])[j] as number;
        expect(Math.abs(x - expected)).toBeLessThanOrEqual(1e-6 + 1e-5 * Math.abs(expected));
      });
    });
  });
});
