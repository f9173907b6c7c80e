import { describe, expect, it } from 'vitest';
import type { StableAdamWBackendV1, TensorStateValues } from './contract.js';
import { GradientMismatchError, InvalidParamError } from './errors.js';
import { StableAdamWOptimizer } from './optimizer.js';

/** A param of the mock backend: a name, a length and (optionally) a gradient it carries. */
interface MockParam {
  name: string;
  numel: number;
  grad?: MockGrad | null;
}
interface MockGrad {
  numel: number;
}
interface MockState {
  id: number;
}

interface Failures {
  /** `createState` throws for this param. */
  createState?: string;
  /** `stepTensors` throws. */
  stepTensors?: boolean;
}

/**
 * A backend that does no arithmetic and records every call core makes, in order, so the tests can
 * pin what core does before and after a failure. States are numbered in creation order.
 */
function recordingBackend(options: { batched?: boolean; ownGrads?: boolean; fail?: Failures } = {}) {
  const calls: string[] = [];
  const live = new Set<number>();
  let nextState = 0;
  const backend: StableAdamWBackendV1<MockParam, MockGrad, MockState, number> = {
    specificationVersion: 'v1',
    backendId: 'recording',
    describeParam: (param) => ({ numel: param.numel, dtype: 'float32', shape: [param.numel], name: param.name }),
    checkGrad: (_param, grad, info) =>
      grad.numel === info.numel ? undefined : { problem: `has ${grad.numel} elements`, fix: 'Match the param.' },
    createState(param) {
      calls.push(`createState ${param.name}`);
      if (options.fail?.createState === param.name) throw new Error(`no memory for ${param.name}`);
      live.add(nextState);
      return { id: nextState++ };
    },
    importState: () => {
      live.add(nextState);
      return { id: nextState++ };
    },
    exportState: (): TensorStateValues => ({ expAvg: [0], expAvgSq: [0], kahanComp: null }),
    disposeState(state) {
      calls.push(`disposeState ${state.id}`);
      live.delete(state.id);
    },
    updateMoments(param, _grad, _state, scalars) {
      calls.push(`updateMoments ${param.name} beta1Hat=${scalars.beta1Hat}`);
      return 0;
    },
    applyUpdate(param) {
      calls.push(`applyUpdate ${param.name}`);
    },
  };
  if (options.ownGrads) {
    backend.getGrad = (param) => param.grad;
    backend.clearGrad = (param) => {
      calls.push(`clearGrad ${param.name}`);
      param.grad = null;
    };
  }
  if (options.batched) {
    backend.stepTensors = (items) => {
      calls.push(`stepTensors ${items.map((i) => i.info.name).join(',')}`);
      if (options.fail?.stepTensors) throw new Error('device lost');
    };
  }
  return { backend, calls, live };
}

const a: MockParam = { name: 'a', numel: 2 };
const b: MockParam = { name: 'b', numel: 3 };
const grads = () =>
  new Map<MockParam, MockGrad>([
    [a, { numel: 2 }],
    [b, { numel: 3 }],
  ]);

describe('StableAdamWOptimizer over a recording backend', () => {
  it('hands the gradients it is given to the kernels, allocating state before the first kernel call', () => {
    const { backend, calls } = recordingBackend();
    const opt = new StableAdamWOptimizer(backend, [a, b], { lr: 1e-2 });
    opt.step(grads());
    expect(calls).toEqual([
      'createState a',
      'createState b',
      'updateMoments a beta1Hat=0',
      'applyUpdate a',
      'updateMoments b beta1Hat=0',
      'applyUpdate b',
    ]);
    expect(opt.paramGroups[0]?.step).toBe(1);
  });

  it('skips params missing from the gradient map and still counts the step', () => {
    const { backend, calls } = recordingBackend();
    const opt = new StableAdamWOptimizer(backend, [a, b], { lr: 1e-2 });
    opt.step(new Map([[b, { numel: 3 }]]));
    expect(calls).toEqual(['createState b', 'updateMoments b beta1Hat=0', 'applyUpdate b']);
    expect(opt.paramGroups[0]?.step).toBe(1);
  });

  it('uses β̂ of the group step: 0.9·(1 − 0.9)/(1 − 0.81) at step 2 for β1 = 0.9', () => {
    const { backend, calls } = recordingBackend();
    const opt = new StableAdamWOptimizer(backend, [a], { lr: 1e-2 });
    opt.step(new Map([[a, { numel: 2 }]]));
    opt.step(new Map([[a, { numel: 2 }]]));
    // β̂(2) = (β² − β)/(β² − 1) = β/(1 + β) = 0.9/1.9
    expect(calls.at(-2)).toBe(`updateMoments a beta1Hat=${(0.9 ** 2 - 0.9) / (0.9 ** 2 - 1)}`);
    expect((0.9 ** 2 - 0.9) / (0.9 ** 2 - 1)).toBeCloseTo(0.9 / 1.9, 15);
  });

  it('reads gradients from the params when the backend has getGrad and no map is passed', () => {
    const { backend, calls } = recordingBackend({ ownGrads: true });
    const pa: MockParam = { name: 'a', numel: 2, grad: { numel: 2 } };
    const pb: MockParam = { name: 'b', numel: 3, grad: null };
    const opt = new StableAdamWOptimizer(backend, [pa, pb], { lr: 1e-2 });
    opt.step();
    expect(calls).toEqual(['createState a', 'updateMoments a beta1Hat=0', 'applyUpdate a']);
  });

  it('refuses step() without gradients on a backend whose params carry none', () => {
    const { backend, calls } = recordingBackend();
    const opt = new StableAdamWOptimizer(backend, [a, b], { lr: 1e-2 });
    expect(() => opt.step()).toThrow(InvalidParamError);
    expect(() => opt.step()).toThrow(/grads.*is required.*step\(new Map/);
    expect(calls).toEqual([]);
    expect(opt.paramGroups[0]?.step).toBe(0);
  });

  it('refuses a gradient for a param it does not manage, or a map that is not a Map, changing nothing', () => {
    const { backend, calls } = recordingBackend();
    const opt = new StableAdamWOptimizer(backend, [a], { lr: 1e-2 });
    const stranger: MockParam = { name: 'stranger', numel: 2 };
    expect(() => opt.step(new Map([[stranger, { numel: 2 }]]))).toThrow(/is not managed by this optimizer/);
    expect(() => opt.step({ a: 1 } as unknown as Map<MockParam, MockGrad>)).toThrow(/`grads` is object, not a Map/);
    expect(calls).toEqual([]);
    expect(opt.paramGroups[0]?.step).toBe(0);
  });

  it('validates every gradient before allocating anything', () => {
    const { backend, calls } = recordingBackend();
    const opt = new StableAdamWOptimizer(backend, [a, b], { lr: 1e-2 });
    const bad = new Map([
      [a, { numel: 2 }],
      [b, { numel: 4 }],
    ]);
    expect(() => opt.step(bad)).toThrow(GradientMismatchError);
    expect(calls).toEqual([]);
    expect(opt.paramGroups[0]?.step).toBe(0);
  });

  it('frees the state it allocated and leaves the counter when allocation fails part-way', () => {
    const { backend, calls, live } = recordingBackend({ fail: { createState: 'b' } });
    const opt = new StableAdamWOptimizer(backend, [a, b], { lr: 1e-2 });
    expect(() => opt.step(grads())).toThrow('no memory for b');
    expect(calls).toEqual(['createState a', 'createState b', 'disposeState 0']);
    expect(live.size).toBe(0);
    expect(opt.paramGroups[0]?.step).toBe(0);
    expect(opt.stateDict()).toMatchObject({ state: {} });
  });

  it('undoes the counters and the new state when stepTensors throws, keeping state from earlier steps', () => {
    const fail: Failures = {};
    const { backend, calls, live } = recordingBackend({ batched: true, fail });
    const opt = new StableAdamWOptimizer(backend, [a, b], { lr: 1e-2 });
    opt.step(new Map([[a, { numel: 2 }]]));
    fail.stepTensors = true;
    calls.length = 0;
    expect(() => opt.step(grads())).toThrow('device lost');
    expect(calls).toEqual(['createState b', 'stepTensors a,b', 'disposeState 1']);
    expect([...live]).toEqual([0]);
    expect(opt.paramGroups[0]?.step).toBe(1);
    expect(Object.keys((opt.stateDict() as { state: object }).state)).toEqual(['0']);
    // The optimizer keeps working: the next step is step 2, on the state kept from step 1.
    fail.stepTensors = false;
    calls.length = 0;
    opt.step(grads());
    expect(calls).toEqual(['createState b', 'stepTensors a,b']);
    expect(opt.paramGroups[0]?.step).toBe(2);
  });

  it('leaves the per-parameter counter alone when a gradient-release step is refused', () => {
    const { backend, calls } = recordingBackend({ ownGrads: true });
    const opt = new StableAdamWOptimizer(backend, [a], { lr: 1e-2, gradientRelease: true });
    expect(() => opt.stepParam(a, { numel: 5 })).toThrow(GradientMismatchError);
    expect(calls).toEqual([]);
    opt.stepParam(a, { numel: 2 });
    expect(calls).toEqual(['createState a', 'updateMoments a beta1Hat=0', 'applyUpdate a', 'clearGrad a']);
    expect(opt.stateDict()).toMatchObject({ state: { 0: { step: 1 } } });
  });
});
