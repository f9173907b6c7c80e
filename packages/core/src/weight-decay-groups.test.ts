import { describe, expect, it } from 'vitest';
import { InvalidHyperparameterError } from './errors.js';
import { paramGroupsWeightDecay } from './weight-decay-groups.js';

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
