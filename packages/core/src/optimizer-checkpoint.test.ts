import { describe, expect, it } from 'vitest';
import { type ArrayTensor, arrayOptimizer, arrayParam } from '../examples/array-adapter.js';
import type { CheckpointLayout } from './checkpoint-layouts.js';
import { StateDictError } from './errors.js';

const init = [
  [0.5, -1.25, 2, 0.75],
  [0.1, -0.2],
];
const gradients = (t: number) => [
  [0.3 * Math.sin(t + 1), -0.2, 0.05 * t, 0.4],
  [0.02 * t, -0.1],
];

function train(steps: number, layout?: CheckpointLayout, resumeAt?: number): Float64Array[] {
  const make = () => {
    const params = init.map((values) => arrayParam(values));
    const optimizer = arrayOptimizer([{ params: [params[0] as ArrayTensor] }, { params: [params[1] as ArrayTensor], lr: 5e-3 }], {
      lr: 1e-2,
      weightDecay: 0.1,
    });
    return { params, optimizer };
  };
  let { params, optimizer } = make();
  for (let t = 0; t < steps; t++) {
    if (t === resumeAt && layout) {
      const bytes = optimizer.saveCheckpoint({ layout }) as Uint8Array;
      const values = params.map((p) => p.values.slice());
      ({ params, optimizer } = make());
      params.forEach((p, i) => {
        p.values.set(values[i] as Float64Array);
      });
      optimizer.loadCheckpoint(bytes, { layout });
    }
    gradients(t).forEach((g, i) => {
      (params[i] as ArrayTensor).grad = arrayParam(g);
    });
    optimizer.step();
  }
  return params.map((p) => p.values);
}

describe('saveCheckpoint / loadCheckpoint', () => {
  const uninterrupted = train(6);

  it("resumes bit for bit from optimi's layout (debiased moments stored as they are)", () => {
    expect(train(6, 'optimi', 3)).toEqual(uninterrupted);
  });

  it("resumes from torch AdamW's layout (moments biased by (1 − β^t) and back) to float64 rounding", () => {
    const resumed = train(6, 'torch-adamw', 3);
    resumed.forEach((p, i) => {
      p.forEach((x, j) => {
        const expected = (uninterrupted[i] as Float64Array)[j] as number;
        expect(Math.abs(x - expected)).toBeLessThanOrEqual(1e-14 + 1e-12 * Math.abs(expected));
      });
    });
  });

  it('refuses bytes that are not a checkpoint, changing nothing', () => {
    const params = [arrayParam([1, 2])];
    const optimizer = arrayOptimizer(params, { lr: 1e-2 });
    params[0] = Object.assign(params[0] as ArrayTensor, { grad: arrayParam([0.1, 0.2]) });
    optimizer.step();
    const before = JSON.stringify(optimizer.stateDict());
    expect(() => optimizer.loadCheckpoint(new Uint8Array([1, 2, 3]), { layout: 'optimi' })).toThrow(StateDictError);
    expect(JSON.stringify(optimizer.stateDict())).toBe(before);
  });
});
