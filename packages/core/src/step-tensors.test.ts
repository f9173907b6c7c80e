import { describe, expect, it } from 'vitest';
import { type ArrayTensor, arrayBackend, arrayParam } from '../examples/array-adapter.js';
import type { TensorStep } from './contract.js';
import { StableAdamWOptimizer } from './optimizer.js';
import type { StateDict } from './state-dict.js';

type Backend = typeof arrayBackend;
type Item = TensorStep<ArrayTensor, ArrayTensor, Parameters<Backend['updateMoments']>[2]>;

/** The array backend plus a `stepTensors` that records its batches and runs the two phases per item. */
function batchingBackend(batches: Item[][]): Backend {
  return {
    ...arrayBackend,
    stepTensors(items) {
      batches.push([...items]);
      for (const { param, grad, state, moments, update } of items) {
        const sum = arrayBackend.updateMoments(param, grad, state, moments);
        arrayBackend.applyUpdate(param, grad, state, sum, update);
      }
    },
  };
}

function setup(backend: Backend) {
  const params = [arrayParam([1, -2, 3]), arrayParam([0.5, 0.25]), arrayParam([4])];
  const opt = new StableAdamWOptimizer(
    backend,
    [{ params: params.slice(0, 2) }, { params: [params[2] as ArrayTensor], lr: 0.1 }],
    {
      lr: 1e-2,
      weightDecay: 0.1,
    },
  );
  const grads = (t: number) => [arrayParam([0.1 * t, -0.2, 0.3]), t % 2 ? null : arrayParam([1, 2]), arrayParam([t])];
  return { params, opt, grads };
}

describe('stepTensors (batched backends)', () => {
  it('gets every param with a gradient in one call and matches per-tensor stepping', () => {
    const batches: Item[][] = [];
    const batched = setup(batchingBackend(batches));
    const plain = setup(arrayBackend);
    for (let t = 1; t <= 4; t++) {
      for (const s of [batched, plain]) {
        s.grads(t).forEach((g, i) => {
          (s.params[i] as ArrayTensor).grad = g;
        });
        s.opt.step();
      }
    }
    expect(batches.map((b) => b.length)).toEqual([2, 3, 2, 3]);
    expect(batches[3]?.map((item) => item.update.lr)).toEqual([1e-2, 1e-2, 0.1]);
    expect(batches[3]?.every((item) => item.moments.reduce)).toBe(true);
    expect(batched.params.map((p) => Array.from(p.values))).toEqual(plain.params.map((p) => Array.from(p.values)));
    expect(batched.opt.stateDict()).toEqual(plain.opt.stateDict());
  });

  it('is not called when no param has a gradient, yet group counters advance', () => {
    const batches: Item[][] = [];
    const { opt } = setup(batchingBackend(batches));
    opt.step();
    expect(batches).toEqual([]);
    expect(opt.paramGroups.map((g) => g.step)).toEqual([1, 1]);
  });

  it('undoes counters and new state when the backend refuses the batch', () => {
    const refusing: Backend = {
      ...arrayBackend,
      stepTensors() {
        throw new Error('refused');
      },
    };
    const { params, opt, grads } = setup(refusing);
    grads(1).forEach((g, i) => {
      (params[i] as ArrayTensor).grad = g;
    });
    const before = params.map((p) => Array.from(p.values));
    expect(() => opt.step()).toThrow('refused');
    expect(opt.paramGroups.map((g) => g.step)).toEqual([0, 0]);
    expect((opt.stateDict() as StateDict).state).toEqual({});
    expect(params.map((p) => Array.from(p.values))).toEqual(before);
  });
});
