import { InvalidParamError } from '@stable-adamw/core';
import { GPU } from 'gpu.js';
import { describe, expect, it } from 'vitest';
import { LrScheduler, linearDecay, paramGroupsWeightDecay, StableAdamW } from './index.js';
import type { GpuJsParam } from './param.js';

describe('paramGroupsWeightDecay and LrScheduler (gpu.js params)', () => {
  it('decays the weight matrix by (1 − lr·λ) at the scheduled lr and leaves the bias alone', async () => {
    const weight: GpuJsParam = { data: new Float32Array(4).fill(1), name: 'fc.weight', shape: [2, 2] };
    const bias: GpuJsParam = { data: new Float32Array(2).fill(1), name: 'fc.bias', shape: [2] };
    const opt = new StableAdamW(paramGroupsWeightDecay([weight, bias], { weightDecay: 0.5 }), {
      gpu: new GPU({ mode: 'cpu' }),
      lr: 0.1,
    });
    const scheduler = new LrScheduler(opt, linearDecay(4));
    // Zero gradients: only decay moves a param, θ·(1 − lr_t·λ) with lr_t = 0.1, then 0.075.
    for (let t = 0; t < 2; t++) {
      weight.grad = new Float32Array(4);
      bias.grad = new Float32Array(2);
      await opt.step();
      scheduler.step();
    }
    const [b, w] = await opt.readParams();
    expect(Array.from(b as Float32Array)).toEqual([1, 1]);
    for (const x of w as Float32Array) expect(x).toBeCloseTo((1 - 0.1 * 0.5) * (1 - 0.075 * 0.5), 6);
    await opt.dispose();
  });

  it('needs shapes: a 1-D device tensor cannot tell a matrix from a norm scale', () => {
    expect(() => paramGroupsWeightDecay([{ data: new Float32Array(4), name: 'w' }])).toThrow(InvalidParamError);
  });
});
