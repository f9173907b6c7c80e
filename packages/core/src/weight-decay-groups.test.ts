import { describe, expect, it } from 'vitest';
import { arrayOptimizer, arrayParam } from '../examples/array-adapter.js';
import { InvalidHyperparameterError, InvalidParamError } from './errors.js';
import { paramGroupsWeightDecay, shapedParamGroupsWeightDecay, type WeightDecayGroupOptions } from './weight-decay-groups.js';

const named = (name: string, shape: number[]) => ({ name, shape, param: name });

describe('paramGroupsWeightDecay', () => {
  // Expected groups hand-derived from optimi 0.3.3's rule (optimi/utils.py, param_groups_weight_decay):
  // no decay when `param.ndim <= 1 or name.endswith(".bias") or any(n in name for n in additional_layers)`.
  it("splits by optimi's rule: 0-D/1-D tensors, names ending in .bias, additional layers", () => {
    const groups = paramGroupsWeightDecay(
      [
        named('encoder.0.weight', [8, 4]),
        named('encoder.0.bias', [8]),
        named('norm.weight', [8]),
        named('embed.weight', [100, 8]),
        named('head.bias', [4, 1]),
        named('bias', [4, 1]),
        named('dense_Dense1/kernel', [4, 4]),
        named('dense_Dense1/bias', [4, 1]),
        named('scale', []),
      ],
      { weightDecay: 0.1, additionalLayers: ['embed'] },
    );
    expect(groups).toEqual([
      { params: ['encoder.0.bias', 'norm.weight', 'embed.weight', 'head.bias', 'scale'], weightDecay: 0 },
      // optimi decays a 2-D root-level `bias` and a tfjs-style `layer/bias`: neither ends in ".bias".
      { params: ['encoder.0.weight', 'bias', 'dense_Dense1/kernel', 'dense_Dense1/bias'], weightDecay: 0.1 },
    ]);
  });

  it("naming 'tfjs' recognises tfjs-layers biases and norm params by their last segment", () => {
    const groups = paramGroupsWeightDecay(
      [
        named('dense_Dense1/kernel', [4, 4]),
        named('dense_Dense1/bias', [4, 1]),
        named('conv2d_Conv2D1/bias_1', [2, 2]),
        named('batch_normalization_1/gamma', [4, 1]),
        named('layer_normalization_1/beta', [4, 1]),
        named('my_beta_layer/kernel', [4, 4]),
        named('head.bias', [4, 1]),
      ],
      { naming: 'tfjs' },
    );
    expect(groups).toEqual([
      {
        params: ['dense_Dense1/bias', 'conv2d_Conv2D1/bias_1', 'batch_normalization_1/gamma', 'layer_normalization_1/beta'],
        weightDecay: 0,
      },
      { params: ['dense_Dense1/kernel', 'my_beta_layer/kernel', 'head.bias'], weightDecay: 1e-2 },
    ]);
  });

  it("always returns optimi's two groups, one possibly empty, and the optimizer accepts them", () => {
    const onlyDecayed = paramGroupsWeightDecay([named('w', [2, 2])]);
    expect(onlyDecayed).toEqual([
      { params: [], weightDecay: 0 },
      { params: ['w'], weightDecay: 1e-2 },
    ]);
    expect(paramGroupsWeightDecay([])).toEqual([
      { params: [], weightDecay: 0 },
      { params: [], weightDecay: 1e-2 },
    ]);
    const w = arrayParam([1, 1]);
    const opt = arrayOptimizer(paramGroupsWeightDecay([{ name: 'w', shape: [1, 2], param: w }], { weightDecay: 0.5 }), {
      lr: 0.1,
    });
    expect(opt.paramGroups.map((g) => g.params.length)).toEqual([0, 1]);
    w.grad = arrayParam([0, 0]);
    opt.step();
    // Zero gradient: only the decay moves w, θ·(1 − lr·λ) = 0.95; both group counters advance (optimi).
    expect(Array.from(w.values)).toEqual([0.95, 0.95]);
    expect(opt.paramGroups.map((g) => g.step)).toEqual([1, 1]);
  });

  it('takes a string additionalLayers as one name (optimi would split it into letters)', () => {
    const groups = paramGroupsWeightDecay([named('norm.scale', [2, 2]), named('fc.weight', [2, 2])], {
      additionalLayers: 'norm',
    });
    expect(groups[0].params).toEqual(['norm.scale']);
    expect(groups[1].params).toEqual(['fc.weight']);
  });

  it.each<[string, Record<string, unknown>]>([
    ['weightDecay', { weightDecay: -1 }],
    ['additionalLayers', { additionalLayers: 3 }],
    ['additionalLayers', { additionalLayers: ['norm', 1] }],
    ['additionalLayers', { additionalLayers: new Set(['norm']) }],
    ['naming', { naming: 'keras' }],
  ])('rejects a bad %s with a typed error', (parameter, options) => {
    let error: unknown;
    try {
      paramGroupsWeightDecay([named('w', [2, 2])], options as WeightDecayGroupOptions);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidHyperparameterError);
    expect((error as InvalidHyperparameterError).parameter).toBe(parameter);
  });
});

describe('shapedParamGroupsWeightDecay', () => {
  it('reads name and shape off the params themselves', () => {
    const weight = { name: 'fc.weight', shape: [2, 2] };
    const bias = { name: 'fc.bias', shape: [2, 1] };
    const scale = { shape: [2] };
    expect(shapedParamGroupsWeightDecay([weight, bias, scale], { weightDecay: 0.5 })).toEqual([
      { params: [bias, scale], weightDecay: 0 },
      { params: [weight], weightDecay: 0.5 },
    ]);
    expect(shapedParamGroupsWeightDecay([bias], { naming: 'tfjs' })).toEqual([
      { params: [], weightDecay: 0 },
      { params: [bias], weightDecay: 1e-2 },
    ]);
  });

  it('names the param without a shape and the fix', () => {
    expect(() => shapedParamGroupsWeightDecay([{ name: 'w', shape: [2, 2] }, { name: 'b' }])).toThrow(
      /params\[1\] \(b\)` has no shape.*Set shape/,
    );
    expect(() => shapedParamGroupsWeightDecay([{ name: 'w', shape: [2, 2] }, { name: 'b' }])).toThrow(InvalidParamError);
  });

  it('rejects params that are not an array', () => {
    expect(() => shapedParamGroupsWeightDecay(undefined as unknown as [])).toThrow(InvalidParamError);
  });
});
