import { describe, expect, it } from 'vitest';
import { type ArrayTensor, arrayBackend, arrayOptimizer, arrayParam } from '../examples/array-adapter.js';
import { InvalidHyperparameterError, InvalidParamError, UnsupportedBackendError } from './errors.js';
import { StableAdamWOptimizer } from './optimizer.js';

// optimi-spec Appendix A (fp64 re-derivation of optimi's step, cross-checked against optimi 0.3.3's
// for-loop path): lr 1e-3, betas (0.9, 0.99), eps 1e-6, weight decay 1e-2, θ₀ = [0.5, −0.25, 1, 0].
const APPENDIX_A = {
  init: [0.5, -0.25, 1.0, 0.0],
  grads: [
    [0.1, -0.2, 0.0, 1e-7],
    [0.1, -0.2, 0.05, 0.0],
    [5.0, -4.0, 3.0, 2.0],
  ],
  params: [
    [0.49899500999990004, -0.248997504999975, 0.99999, -9.09090909090909e-5],
    [0.4979900300497001, -0.2479950200249, 0.999237561258374, -0.0001351557018608929],
    [0.4976053804238054, -0.24759371122654822, 0.998856992355752, -0.0005044336788676551],
  ],
};

function expectValues(actual: ArrayLike<number>, expected: readonly number[]): void {
  expected.forEach((x, i) => {
    expect(Math.abs((actual[i] as number) - x)).toBeLessThanOrEqual(1e-15);
  });
}

describe('step(closure), as torch.optim.Optimizer.step(closure)', () => {
  it("runs the closure first, steps with the gradients it set, and returns its loss (optimi's values)", () => {
    const theta = arrayParam(APPENDIX_A.init);
    const opt = arrayOptimizer([theta], { lr: 1e-3 });
    APPENDIX_A.grads.forEach((grad, t) => {
      const loss = opt.step(() => {
        theta.grad = arrayParam(grad);
        return { loss: t };
      });
      expect(loss).toEqual({ loss: t });
      expectValues(theta.values, APPENDIX_A.params[t] as number[]);
    });
    expect(opt.paramGroups[0]?.step).toBe(3);
  });

  it('awaits an async closure before stepping and resolves to its loss', async () => {
    const theta = arrayParam(APPENDIX_A.init);
    const opt = arrayOptimizer([theta], { lr: 1e-3 });
    const result = opt.step(async () => {
      await Promise.resolve();
      theta.grad = arrayParam(APPENDIX_A.grads[0] as number[]);
      return 0.25;
    });
    expect(result).toBeInstanceOf(Promise);
    expect(await result).toBe(0.25);
    expectValues(theta.values, APPENDIX_A.params[0] as number[]);
  });

  it('steps without a closure as before, returning undefined', () => {
    const theta = arrayParam(APPENDIX_A.init);
    const opt = arrayOptimizer([theta], { lr: 1e-3 });
    theta.grad = arrayParam(APPENDIX_A.grads[0] as number[]);
    expect(opt.step()).toBeUndefined();
    expect(opt.step(new Map([[theta, arrayParam(APPENDIX_A.grads[1] as number[])]]))).toBeUndefined();
    expectValues(theta.values, APPENDIX_A.params[1] as number[]);
  });

  it('changes nothing when the closure throws', () => {
    const theta = arrayParam([1, 2]);
    theta.grad = arrayParam([0.1, 0.1]);
    const opt = arrayOptimizer([theta], { lr: 1e-3 });
    expect(() =>
      opt.step(() => {
        throw new Error('loss failed');
      }),
    ).toThrow('loss failed');
    expect(Array.from(theta.values)).toEqual([1, 2]);
    expect(opt.paramGroups[0]?.step).toBe(0);
  });

  it('refuses a closure, before calling it, on a backend whose params hold no gradients', () => {
    const { getGrad: _, ...mapOnly } = arrayBackend;
    const opt = new StableAdamWOptimizer(mapOnly, [arrayParam([1])], { lr: 1e-3 });
    let called = false;
    expect(() =>
      opt.step(() => {
        called = true;
      }),
    ).toThrow(InvalidParamError);
    expect(called).toBe(false);
  });

  it('refuses an argument that is neither a Map nor a function', () => {
    const opt = arrayOptimizer([arrayParam([1])], { lr: 1e-3 });
    expect(() => opt.step({} as never)).toThrow(/not a Map or a closure/);
  });
});

describe('zeroGrad({ setToNone }), as torch ≥ 2.0 zero_grad(set_to_none)', () => {
  const inPlace = {
    ...arrayBackend,
    zeroGradInPlace: (param: ArrayTensor) => {
      param.grad?.values.fill(0);
    },
  };

  function setup(backend = inPlace) {
    const a = arrayParam([1, 2]);
    const b = arrayParam([3]);
    a.grad = arrayParam([0.5, -0.5]);
    const opt = new StableAdamWOptimizer(backend, [a, b], { lr: 0.1, weightDecay: 0.5 });
    return { a, b, opt };
  }

  it('drops the gradients by default: the params are skipped at the next step', () => {
    const { a, opt } = setup();
    opt.zeroGrad();
    expect(a.grad).toBeNull();
    opt.step();
    expect(Array.from(a.values)).toEqual([1, 2]);
  });

  it('setToNone: false zeroes them in place: the next step decays the params with a zero gradient', () => {
    const { a, b, opt } = setup();
    const grad = a.grad;
    opt.zeroGrad({ setToNone: false });
    expect(a.grad).toBe(grad);
    expect(Array.from(a.grad?.values ?? [])).toEqual([0, 0]);
    expect(b.grad).toBeUndefined();
    opt.step();
    // g = 0: m = v = 0, RMS = 0, η = lr, Adam term 0/(0 + ε) = 0, so θ·(1 − lr·λ) = θ·0.95 (hand-derived).
    expect(Array.from(a.values)).toEqual([0.95, 1.9]);
    expect(Array.from(b.values)).toEqual([3]);
  });

  it('refuses setToNone: false on a backend that cannot zero in place', () => {
    const { opt } = setup(arrayBackend as typeof inPlace);
    expect(() => opt.zeroGrad({ setToNone: false })).toThrow(UnsupportedBackendError);
  });

  it('does nothing on a backend whose params hold no gradients', () => {
    const { getGrad: _g, clearGrad: _c, ...mapOnly } = arrayBackend;
    const { a, opt } = setup(mapOnly as typeof inPlace);
    opt.zeroGrad({ setToNone: false });
    opt.zeroGrad();
    expect(Array.from(a.grad?.values ?? [])).toEqual([0.5, -0.5]);
  });

  it.each<[string, unknown]>([
    ['options', false],
    ['options', null],
    ['options.set_to_none', { set_to_none: false }],
    ['setToNone', { setToNone: 'no' }],
  ])('rejects a bad argument (%s) with a typed error', (parameter, options) => {
    const { opt } = setup();
    let error: unknown;
    try {
      opt.zeroGrad(options as never);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidHyperparameterError);
    expect((error as InvalidHyperparameterError).parameter).toBe(parameter);
  });
});
