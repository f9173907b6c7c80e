import { describe, expect, it } from 'vitest';
import { type ArrayTensor, arrayOptimizer, arrayParam } from '../examples/array-adapter.js';
import { StateDictError } from './errors.js';
import type { StateDict } from './state-dict.js';

function trained(): { params: ArrayTensor[]; sd: StateDict } {
  const params = [arrayParam([1, -2, 3]), arrayParam([0.5, 0.25])];
  const opt = arrayOptimizer([{ params: [params[0] as ArrayTensor] }, { params: [params[1] as ArrayTensor], lr: 0.1 }], {
    lr: 1e-2,
  });
  (params[0] as ArrayTensor).grad = arrayParam([0.1, Number.NaN, -0.3]);
  (params[1] as ArrayTensor).grad = arrayParam([1, 2]);
  opt.step();
  return { params, sd: opt.stateDict() as StateDict };
}

function fresh() {
  const params = [arrayParam([1, -2, 3]), arrayParam([0.5, 0.25])];
  return arrayOptimizer([{ params: [params[0] as ArrayTensor] }, { params: [params[1] as ArrayTensor], lr: 0.1 }], { lr: 1e-2 });
}

function pathOf(fn: () => void): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(StateDictError);
    return (error as StateDictError).path;
  }
  throw new Error('expected a StateDictError');
}

describe('state dicts', () => {
  it("uses PyTorch's layout and optimi's keys", () => {
    const { sd } = trained();
    expect(Object.keys(sd.state)).toEqual(['0', '1']);
    expect(sd.param_groups[1]).toEqual({
      lr: 0.1,
      beta1: 0.9,
      beta2: 0.99,
      eps: 1e-6,
      weight_decay: 0.01,
      decouple_lr: false,
      max_lr: null,
      kahan_sum: null,
      gradient_release: false,
      non_finite: 'propagate',
      step: 1,
      params: [1],
    });
    expect(sd.skipped_steps).toBe(0);
    expect(sd.loss_scaler).toBeUndefined();
    // Step 1: β̂ = 0, so m = g and v = g² exactly; NaN survives JSON as a string.
    expect(sd.state[0]?.exp_avg).toEqual([0.1, 'NaN', -0.3]);
    expect(JSON.parse(JSON.stringify(sd))).toEqual(sd);
  });

  it.each<[string, (sd: StateDict) => unknown, string]>([
    ['not an object', () => 42, '(root)'],
    ['group count', (sd) => ({ ...sd, param_groups: sd.param_groups.slice(1) }), 'param_groups'],
    [
      'param count',
      (sd) => ({ ...sd, param_groups: [{ ...sd.param_groups[0], params: [0, 5] }, sd.param_groups[1]] }),
      'param_groups[0].params',
    ],
    [
      'negative lr',
      (sd) => ({ ...sd, param_groups: [{ ...sd.param_groups[0], lr: -1 }, sd.param_groups[1]] }),
      'param_groups[0].lr',
    ],
    [
      'beta1 out of range (named by its state-dict key)',
      (sd) => ({ ...sd, param_groups: [{ ...sd.param_groups[0], beta1: 1.5 }, sd.param_groups[1]] }),
      'param_groups[0].beta1',
    ],
    [
      'non_finite policy',
      (sd) => ({ ...sd, param_groups: [{ ...sd.param_groups[0], non_finite: 'ignore' }, sd.param_groups[1]] }),
      'param_groups[0].non_finite',
    ],
    ['skipped_steps', (sd) => ({ ...sd, skipped_steps: -1 }), 'skipped_steps'],
    [
      'loss scaler',
      (sd) => ({
        ...sd,
        loss_scaler: {
          scale: 0,
          growth_factor: 2,
          backoff_factor: 0.5,
          growth_interval: 2000,
          growth_tracker: 0,
          min_scale: 2 ** -24,
          max_scale: 2 ** 24,
        },
      }),
      'loss_scaler.scale',
    ],
    [
      'step',
      (sd) => ({ ...sd, param_groups: [sd.param_groups[0], { ...sd.param_groups[1], step: 1.5 }] }),
      'param_groups[1].step',
    ],
    ['length', (sd) => ({ ...sd, state: { ...sd.state, 1: { ...sd.state[1], exp_avg: [1] } } }), 'state.1.exp_avg'],
    [
      'value',
      (sd) => ({ ...sd, state: { ...sd.state, 0: { ...sd.state[0], exp_avg_sq: [1, 'x', 2] } } }),
      'state.0.exp_avg_sq[1]',
    ],
    ['unknown index', (sd) => ({ ...sd, state: { ...sd.state, 7: sd.state[0] } }), 'state.7'],
  ])('rejects a bad %s, naming the entry, and changes nothing', (_, corrupt, path) => {
    const { sd } = trained();
    const opt = fresh();
    const before = JSON.stringify(opt.stateDict());
    expect(pathOf(() => opt.loadStateDict(corrupt(sd) as StateDict))).toBe(path);
    expect(JSON.stringify(opt.stateDict())).toBe(before);
  });

  it('refuses an unawaited stateDict() (a Promise), saying to await it, and changes nothing', () => {
    const { sd } = trained();
    const opt = fresh();
    const before = JSON.stringify(opt.stateDict());
    const load = () => opt.loadStateDict(Promise.resolve(sd) as unknown as StateDict);
    expect(pathOf(load)).toBe('(root)');
    expect(load).toThrow(/await stateDict\(\) first/);
    expect(JSON.stringify(opt.stateDict())).toBe(before);
  });

  it('restores hyperparameters and step counters', () => {
    const { sd } = trained();
    const opt = fresh();
    opt.loadStateDict(JSON.parse(JSON.stringify(sd)));
    expect(opt.paramGroups.map((g) => [g.lr, g.step])).toEqual([
      [1e-2, 1],
      [0.1, 1],
    ]);
    expect(opt.stateDict()).toEqual(sd);
  });
});
