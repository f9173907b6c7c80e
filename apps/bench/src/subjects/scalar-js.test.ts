import { StableAdamW } from '@stable-adamw/cpu';
import { describe, expect, it } from 'vitest';
import { HYPER, scalarStableAdamWStep } from './scalar-js.js';
import { seededValues } from './values.js';

describe('scalarStableAdamWStep', () => {
  it('matches @stable-adamw/cpu over steps with and without clipping', () => {
    for (const gradScale of [1e-2, 1e3]) {
      const n = 1000;
      const p = seededValues(n, 1, 1);
      const g = seededValues(n, 2, gradScale);
      const mine = { p: p.slice(), g, m: new Float32Array(n), v: new Float32Array(n) };
      const param = { data: p.slice(), grad: g };
      const { lr, beta1, beta2, eps, weightDecay } = HYPER;
      const opt = new StableAdamW([param], { lr, betas: [beta1, beta2], eps, weightDecay });
      for (let step = 1; step <= 5; step++) {
        // A different gradient each step so the moments are not trivially constant.
        g.set(seededValues(n, 10 + step, gradScale * step));
        scalarStableAdamWStep([mine], step);
        opt.step();
      }
      for (let i = 0; i < n; i++) expect(mine.p[i]).toBeCloseTo(param.data[i] as number, 6);
      expect(mine.p[0]).not.toBe(p[0]);
    }
  });
});
