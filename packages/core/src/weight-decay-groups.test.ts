import { describe, expect, it } from 'vitest';
import { InvalidHyperparameterError, InvalidParamError } from './errors.js';
import { paramGroupsWeightDecay, shapedParamGroupsWeightDecay } from './weight-decay-groups.js';

const named = (name: string, shape: number[]) => ({ name, shape, param: name });

describe('paramGroupsWeightDecay', () => {
  it('splits as optimi: 1-D tensors, biases and additional layers are not decayed', () => {
    const groups = paramGroupsWeightDecay(
      [
        named('encoder.0.weight', [8, 4]),
        named('encoder.0.bias', [8]),
        named('norm.weight', [8]),
        named('embed.weight', [100, 8]),
        named('dense_Dense1/kernel', [4, 4]),
        named('dense_Dense1/bias', [4, 1]),
        named('scale', []),
      ],
      { weightDecay: 0.1, additionalLayers: ['embed'] },
    );
    expect(groups).toEqual([
      { params: ['encoder.0.bias', 'norm.weight', 'embed.weight', 'dense_Dense1/bias', 'scale'], weightDecay: 0 },
      { params: ['encoder.0.weight', 'dense_Dense1/kernel'], weightDecay: 0.1 },
    ]);
  });

  it('defaults to weightDecay 1e-2 and leaves out empty groups', () => {
    expect(paramGroupsWeightDecay([named('w', [2, 2])])).toEqual([{ params: ['w'], weightDecay: 1e-2 }]);
  });

  it('rejects a negative weightDecay', () => {
    expect(() => paramGroupsWeightDecay([named('w', [2, 2])], { weightDecay: -1 })).toThrow(InvalidHyperparameterError);
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
