import { describe, expect, it, vi } from 'vitest';
import { arrayOptimizer, arrayParam } from '../examples/array-adapter.js';
import { InvalidHyperparameterError, InvalidParamError, StableAdamWError } from './errors.js';
import type { StableAdamWOptions } from './options.js';
import type { StateDict } from './state-dict.js';

function thrown(fn: () => unknown): InvalidHyperparameterError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidHyperparameterError);
    return error as InvalidHyperparameterError;
  }
  throw new Error('expected an InvalidHyperparameterError');
}

describe('constructor options', () => {
  it("fills optimi's defaults", () => {
    const opt = arrayOptimizer([arrayParam([1])], { lr: 1e-3 });
    expect(opt.defaults).toEqual({
      lr: 1e-3,
      betas: [0.9, 0.99],
      weightDecay: 0.01,
      eps: 1e-6,
      decoupleLr: false,
      maxLr: undefined,
      kahanSum: undefined,
      gradientRelease: false,
      nonFinite: 'propagate',
    });
  });

  it('defaults maxLr to the constructor lr when decoupleLr', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    const opt = arrayOptimizer([arrayParam([1])], { lr: 3e-4, decoupleLr: true, weightDecay: 1e-5 });
    expect(opt.defaults.maxLr).toBe(3e-4);
    expect(warn).not.toHaveBeenCalled();
    warn.mockRestore();
  });

  it('warns, as optimi does, when fully decoupled decay gets a coupled-sized weightDecay', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    arrayOptimizer([arrayParam([1])], { lr: 1e-3, decoupleLr: true });
    expect(warn).toHaveBeenCalledWith(expect.stringContaining('weightDecay is 0.01'));
    warn.mockRestore();
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['lr', { lr: -1 }, 'lr'],
    ['lr', { lr: Number.NaN }, 'lr'],
    ['lr', { lr: Infinity }, 'lr'],
    ['missing lr', {}, 'lr'],
    ['eps', { lr: 1, eps: -1e-8 }, 'eps'],
    ['weightDecay', { lr: 1, weightDecay: -0.1 }, 'weightDecay'],
    ['maxLr', { lr: 1, maxLr: -1 }, 'maxLr'],
    ['maxLr zero with decoupleLr', { lr: 1, decoupleLr: true, maxLr: 0 }, 'maxLr'],
    ['beta1', { lr: 1, betas: [1, 0.99] }, 'betas[0]'],
    ['beta2', { lr: 1, betas: [0.9, -0.1] }, 'betas[1]'],
    ['betas length', { lr: 1, betas: [0.9] }, 'betas'],
    ['decoupleLr', { lr: 1, decoupleLr: 'yes' }, 'decoupleLr'],
    ['kahanSum', { lr: 1, kahanSum: 1 }, 'kahanSum'],
    ['snake_case', { lr: 1, weight_decay: 0.1 }, 'weight_decay'],
  ])('rejects bad %s, naming the parameter', (_, options, parameter) => {
    const error = thrown(() => arrayOptimizer([arrayParam([1])], options as unknown as StableAdamWOptions));
    expect(error.parameter).toBe(parameter);
    expect(error.code).toBe('invalid_hyperparameter');
    expect(error.message).toContain(`\`${parameter}\``);
    expect(error.message).toContain('Received:');
    expect(StableAdamWError.isInstance(error)).toBe(true);
  });

  it('points snake_case options to their camelCase names', () => {
    expect(thrown(() => arrayOptimizer([arrayParam([1])], { lr: 1, max_lr: 1 } as never)).message).toContain(
      'Use `maxLr` instead',
    );
  });

  it('copies betas, so editing the caller array later changes nothing', () => {
    const betas: [number, number] = [0.9, 0.99];
    const opt = arrayOptimizer([arrayParam([1])], { lr: 1, betas });
    betas[0] = 5;
    expect(opt.paramGroups[0]?.betas).toEqual([0.9, 0.99]);
  });
});

describe('param groups', () => {
  it('applies overrides and inherits the rest', () => {
    const [a, b] = [arrayParam([1]), arrayParam([2])];
    const opt = arrayOptimizer([{ params: [a] }, { params: [b], lr: 0.1, betas: [0.5, 0.6], weightDecay: 0 }], { lr: 1e-3 });
    expect(opt.paramGroups.map((g) => [g.lr, g.betas, g.weightDecay, g.step])).toEqual([
      [1e-3, [0.9, 0.99], 0.01, 0],
      [0.1, [0.5, 0.6], 0, 0],
    ]);
  });

  it('takes maxLr of a decoupled group from the constructor lr, as optimi does', () => {
    const opt = arrayOptimizer([{ params: [arrayParam([1])], lr: 0.5, decoupleLr: true, weightDecay: 1e-5 }], { lr: 1e-3 });
    expect(opt.paramGroups[0]?.maxLr).toBe(1e-3);
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['lr', { lr: -1 }, 'paramGroups[1].lr'],
    ['betas', { betas: [0.9, 1.5] }, 'paramGroups[1].betas[1]'],
    ['eps', { eps: -1 }, 'paramGroups[1].eps'],
    ['unknown key', { momentum: 0.9 }, 'paramGroups[1].momentum'],
    ['gradientRelease', { gradientRelease: true }, 'paramGroups[1].gradientRelease'],
  ])('validates overrides (%s), which optimi forgets', (_, override, parameter) => {
    const groups = [{ params: [arrayParam([1])] }, { params: [arrayParam([2])], ...override }];
    expect(thrown(() => arrayOptimizer(groups, { lr: 1e-3 })).parameter).toBe(parameter);
  });

  it('accepts an empty group, as PyTorch does (torch 1.13: SGD([{"params": []}, {"params": [p]}]) builds)', () => {
    const p = arrayParam([1]);
    const opt = arrayOptimizer([{ params: [] }, { params: [p], weightDecay: 0 }], { lr: 1 });
    expect(opt.paramGroups.map((g) => g.params)).toEqual([[], [p]]);
  });

  // optimi's group keys are beta1/beta2 (optimi/stableadamw.py defaults dict); optimi ignores a group's betas.
  it('accepts beta1/beta2 as group aliases of betas, so optimi group dicts load', () => {
    const opt = arrayOptimizer(
      [
        { params: [arrayParam([1])], beta1: 0.8 },
        { params: [arrayParam([2])], beta1: 0.5, beta2: 0.9 },
        { params: [arrayParam([3])], betas: [0.7, 0.95], beta2: 0.95 },
      ],
      { lr: 1e-3, betas: [0.9, 0.98] },
    );
    expect(opt.paramGroups.map((g) => g.betas)).toEqual([
      [0.8, 0.98],
      [0.5, 0.9],
      [0.7, 0.95],
    ]);
    // The state dict keeps optimi's keys.
    const saved = opt.stateDict() as StateDict;
    expect(saved.param_groups.map((g) => [g.beta1, g.beta2])).toEqual([
      [0.8, 0.98],
      [0.5, 0.9],
      [0.7, 0.95],
    ]);
    expect(saved.param_groups[0]).not.toHaveProperty('betas');
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['beta1 disagreeing with betas', { betas: [0.9, 0.99], beta1: 0.8 }, 'paramGroups[0].beta1'],
    ['beta2 disagreeing with betas', { betas: [0.9, 0.99], beta2: 0.9 }, 'paramGroups[0].beta2'],
    ['beta1 out of range', { beta1: 1 }, 'paramGroups[0].betas[0]'],
  ])('rejects %s with a typed error', (_, override, parameter) => {
    expect(thrown(() => arrayOptimizer([{ params: [arrayParam([1])], ...override }], { lr: 1e-3 })).parameter).toBe(parameter);
  });

  it('keeps pointing constructor beta1 to betas (optimi takes betas there)', () => {
    expect(thrown(() => arrayOptimizer([arrayParam([1])], { lr: 1e-3, beta1: 0.9 } as StableAdamWOptions)).fix).toMatch(/betas/);
  });

  it('rejects empty params, duplicates and mixed lists', () => {
    const p = arrayParam([1]);
    const cases: [unknown, string][] = [
      [[], 'params'],
      [[{ params: [p] }, { params: [p] }], 'paramGroups[1].params[0]'],
      [[{ params: [p] }, p], 'paramGroups[1]'],
    ];
    for (const [input, parameter] of cases) {
      let error: unknown;
      try {
        arrayOptimizer(input as never, { lr: 1 });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(InvalidParamError);
      expect((error as InvalidParamError).parameter).toBe(parameter);
    }
  });

  it('revalidates scheduled values at step time and leaves everything untouched', () => {
    const p = arrayParam([1, 2]);
    const opt = arrayOptimizer([p], { lr: 1e-3 });
    p.grad = arrayParam([0.1, 0.2]);
    (opt.paramGroups[0] as { lr: number }).lr = -1;
    expect(thrown(() => opt.step()).parameter).toBe('paramGroups[0].lr');
    expect(Array.from(p.values)).toEqual([1, 2]);
    expect(opt.paramGroups[0]?.step).toBe(0);
  });
});
