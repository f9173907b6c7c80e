import { InvalidParamError } from '@stable-adamw/core';
import { describe, expect, it } from 'vitest';
import { paramGroupsWeightDecay, StableAdamW } from './index.js';

describe('paramGroupsWeightDecay (cpu params)', () => {
  it('leaves biases and 1-D params undecayed through a real step', () => {
    const weight = { data: Float64Array.from([1, 1, 1, 1]), grad: new Float64Array(4), name: 'fc.weight', shape: [2, 2] };
    const bias = { data: Float64Array.from([1, 1]), grad: new Float64Array(2), name: 'fc.bias', shape: [2] };
    const opt = new StableAdamW(paramGroupsWeightDecay([weight, bias], { weightDecay: 0.5 }), { lr: 0.1 });
    opt.step();
    // Zero gradients: only decay moves a param, θ·(1 − lr·λ).
    expect(Array.from(weight.data)).toEqual([0.95, 0.95, 0.95, 0.95]);
    expect(Array.from(bias.data)).toEqual([1, 1]);
  });

  it('needs shapes', () => {
    expect(() => paramGroupsWeightDecay([{ data: new Float32Array(4), name: 'w' }])).toThrow(InvalidParamError);
  });
});
