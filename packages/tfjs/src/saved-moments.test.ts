import '@tensorflow/tfjs-backend-cpu';
import { StateDictError } from '@stable-adamw/core';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { matchSavedMoments, type SavedMoments } from './saved-moments.js';

const suffix = Math.random().toString(36).slice(2);
const a = tf.variable(tf.zeros([2]), true, `a_${suffix}`);
const b = tf.variable(tf.zeros([3]), true, `b_${suffix}`);
const moments = (n: number, x: number): SavedMoments => ({
  expAvg: new Float32Array(n).fill(x),
  expAvgSq: new Float32Array(n).fill(x * x),
});

afterAll(() => {
  tf.dispose([a, b]);
});

describe('matchSavedMoments', () => {
  it('pairs by name when every saved name is a variable, whatever the order', () => {
    const state = matchSavedMoments([a, b], new Map([[b.name, moments(3, 2)]]));
    expect(state).toEqual({ 1: { exp_avg: [2, 2, 2], exp_avg_sq: [4, 4, 4], kahan_comp: null } });
  });

  it('pairs by position when the names differ (a model reloaded in the same process)', () => {
    const state = matchSavedMoments(
      [a, b],
      new Map([
        ['a_saved', moments(2, 1)],
        ['b_saved', moments(3, 2)],
      ]),
    );
    expect(state[0]?.exp_avg).toEqual([1, 1]);
    expect(state[1]?.exp_avg_sq).toEqual([4, 4, 4]);
  });

  it('refuses a pairing that fits neither way, naming the entry', () => {
    expect(() => matchSavedMoments([a, b], new Map([['other', moments(2, 1)]]))).toThrow(StateDictError);
    expect(() =>
      matchSavedMoments(
        [a, b],
        new Map([
          ['x', moments(3, 1)],
          ['y', moments(2, 1)],
        ]),
      ),
    ).toThrow(/`x\/exp_avg` has 3 values but variable 0/);
  });
});
