import '@tensorflow/tfjs-backend-cpu';
import { referenceTolerances } from '@stable-adamw/conformance';
import { type CheckpointLayout, StateDictError } from '@stable-adamw/core';
import { readSafetensors, type SafetensorsTensor, writeSafetensors } from '@stable-adamw/core/adapter';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { StableAdamW } from './index.js';

const LR = 1e-2;
const unique = (name: string) => `${name}_${Math.random().toString(36).slice(2)}`;
const grads = (t: number) => ({ a: [0.2, -0.1 * t, 0.05, 0.3], b: [0.01 * t, -0.4] });

/** Steps `a` and `b` six times; with `resumeAt`, saves a checkpoint there and resumes in a new optimizer whose variables come in the other order. */
async function train(layout?: CheckpointLayout, resumeAt?: number): Promise<number[][]> {
  const names = { a: unique('ckpt_a'), b: unique('ckpt_b') };
  const a = tf.variable(tf.tensor2d([0.5, -1, 2, 0.25], [2, 2]), true, names.a);
  const b = tf.variable(tf.tensor1d([0.1, -0.3]), true, names.b);
  let opt = new StableAdamW([a, b], { lr: LR, weightDecay: 0.1 });
  for (let t = 0; t < 6; t++) {
    if (t === resumeAt && layout) {
      const bytes = await opt.saveCheckpoint({ layout });
      opt.dispose();
      opt = new StableAdamW([b, a], { lr: LR, weightDecay: 0.1 });
      opt.loadCheckpoint(bytes, { layout });
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

/** A checkpoint with one tensor replaced. */
function withTensor(bytes: Uint8Array, name: string, tensor: SafetensorsTensor): Uint8Array {
  const file = readSafetensors(bytes);
  file.tensors.set(name, tensor);
  return writeSafetensors(file.tensors, file.metadata);
}

describe('tfjs saveCheckpoint / loadCheckpoint', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it("resumes from optimi's layout by variable name, bit for bit with an uninterrupted run (float32 moments stored as they are)", async () => {
    expect(await train('optimi', 3)).toEqual(await train());
  });

  it("resumes from torch AdamW's layout by variable name, within float32 tolerance of an uninterrupted run", async () => {
    const [uninterrupted, resumed] = [await train(), await train('torch-adamw', 3)];
    // Moments biased by (1 − β^t) and back, rounded to float32 in between: optimi's fp32 tolerance.
    const { atol, rtol } = referenceTolerances('float32', LR).params as { atol: number; rtol: number };
    resumed.forEach((values, i) => {
      values.forEach((x, j) => {
        const expected = (uninterrupted[i] as number[])[j] as number;
        expect(Math.abs(x - expected)).toBeLessThanOrEqual(atol + rtol * Math.abs(expected));
      });
    });
  });

  describe.each(['optimi', 'torch-adamw'] as const)(
    "refuses a bad '%s' file with a StateDictError, loading nothing",
    (layout) => {
      /** Each bad file made from a good one and one saved in the other layout. */
      const badFiles: [string, (good: Uint8Array, other: Uint8Array) => Uint8Array][] = [
        ['truncated', (good) => good.subarray(0, good.length - 5)],
        ['a header cut short', (good) => good.subarray(0, 20)],
        [
          'a moment of the wrong dtype (I64)',
          (good) => withTensor(good, 'state.0.exp_avg', { dtype: 'I64', shape: [2, 2], data: new BigInt64Array(4) }),
        ],
        [
          'a moment of the wrong shape (3 elements for a 2×2 variable)',
          (good) => withTensor(good, 'state.0.exp_avg_sq', { dtype: 'F32', shape: [3], data: new Float32Array(3) }),
        ],
        ['saved in the other layout', (_, other) => other],
      ];

      it.each(badFiles)('%s', async (_, corrupt) => {
        const a = tf.variable(tf.tensor2d([0.5, -1, 2, 0.25], [2, 2]), true, unique('bad_a'));
        const b = tf.variable(tf.tensor1d([0.1, -0.3]), true, unique('bad_b'));
        const opt = new StableAdamW([a, b], { lr: LR, weightDecay: 0.1 });
        const step = (t: number) => {
          const g = grads(t);
          tf.tidy(() => opt.applyGradients({ [a.name]: tf.tensor2d(g.a, [2, 2]), [b.name]: tf.tensor1d(g.b) }));
        };
        step(0);
        step(1);
        const good = await opt.saveCheckpoint({ layout });
        const other = await opt.saveCheckpoint({ layout: layout === 'optimi' ? 'torch-adamw' : 'optimi' });
        step(2); // the optimizer moves on, so a load would show
        const before = JSON.stringify(await opt.stateDict());
        expect(() => opt.loadCheckpoint(corrupt(good, other), { layout })).toThrow(StateDictError);
        expect(JSON.stringify(await opt.stateDict())).toBe(before);
        expect(opt.paramGroups[0]?.step).toBe(3);
        opt.dispose();
        tf.dispose([a, b]);
      });
    },
  );
});
