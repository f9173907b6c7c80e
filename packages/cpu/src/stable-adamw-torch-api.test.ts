import { loadGoldenScenario, type Scenario } from '@stable-adamw/conformance';
import { bfloat16ToNumber, numberToBfloat16, numberToFloat16 } from '@stable-adamw/core';
import { afterEach, describe, expect, it } from 'vitest';
import type { CpuParam } from './param.js';
import { type BufferParam, createParamBuffer, type ParamBuffer } from './param-buffer.js';
import { StableAdamW } from './stable-adamw.js';

const open: ParamBuffer[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((b) => b.dispose()));
});

/** A golden bf16 scenario's params as bit patterns, in one group with the scenario's options. */
function bf16Run(s: Scenario) {
  const params: CpuParam[] = s.params.map((p) => ({ data: Uint16Array.from(p.init, numberToBfloat16), dtype: 'bfloat16' }));
  const optimizer = new StableAdamW(params, s.options);
  const step = (k: number) => {
    (s.steps[k]?.grads ?? []).forEach((g, i) => {
      (params[i] as CpuParam).grad = g ? Float32Array.from(g) : null;
    });
    optimizer.step();
  };
  return { params, optimizer, step };
}

// optimi (optimi/stableadamw.py, state init): a 16-bit param's first state gets a Kahan buffer when
// the group's kahan_sum is True or None, and the group flag is then set to True; kahan_sum=False
// stays False; a group whose 16-bit params have no state yet keeps None.
describe("the state dict records optimi's resolved kahan_sum", () => {
  it('None before the first step, True after it for bf16 params with kahanSum undefined (bf16-kahan)', async () => {
    const s = await loadGoldenScenario('bf16-kahan');
    expect(s.options.kahanSum).toBeUndefined();
    const { params, optimizer, step } = bf16Run(s);
    expect(optimizer.stateDict().param_groups[0]?.kahan_sum).toBeNull();
    step(0);
    const saved = optimizer.stateDict();
    expect(saved.param_groups[0]?.kahan_sum).toBe(true);
    expect(saved.state[0]?.kahan_comp).not.toBeNull();
    // The step itself is optimi's (bf16 tolerance of the scenario, against optimi's recorded params).
    const expected = s.steps[0]?.expected?.params[0] as number[];
    Array.from(params[0]?.data as Uint16Array, bfloat16ToNumber).forEach((x, j) => {
      expect(Math.abs(x - (expected[j] as number))).toBeLessThanOrEqual(1e-3 + 1e-2 * Math.abs(expected[j] as number));
    });
    // Loaded back, the live group holds the resolved flag.
    const resumed = bf16Run(s).optimizer;
    resumed.loadStateDict(JSON.parse(JSON.stringify(saved)));
    expect(resumed.paramGroups[0]?.kahanSum).toBe(true);
  });

  it('False stays False (bf16-no-kahan)', async () => {
    const { optimizer, step } = bf16Run(await loadGoldenScenario('bf16-no-kahan'));
    step(0);
    expect(optimizer.stateDict().param_groups[0]?.kahan_sum).toBe(false);
  });

  it('float32 params keep None (bf16-f32-shadow)', async () => {
    const s = await loadGoldenScenario('bf16-f32-shadow');
    const params: CpuParam[] = s.params.map((p) => ({ data: Float32Array.from(p.init) }));
    const optimizer = new StableAdamW(params, s.options);
    params.forEach((p, i) => {
      p.grad = Float32Array.from(s.steps[0]?.grads[i] ?? []);
    });
    optimizer.step();
    expect(optimizer.stateDict().param_groups[0]?.kahan_sum).toBeNull();
  });

  it('a group whose bf16 param has no state yet keeps None; another group is resolved on its own', () => {
    const f32 = { data: new Float32Array([1]), grad: new Float32Array([0.1]) };
    const bf16 = { data: Uint16Array.of(numberToBfloat16(1)), dtype: 'bfloat16' as const, grad: null };
    const bf16b = { data: Uint16Array.of(numberToBfloat16(1)), dtype: 'bfloat16' as const, grad: new Float32Array([0.1]) };
    const optimizer = new StableAdamW([{ params: [f32, bf16] }, { params: [bf16b] }], { lr: 1e-3 });
    optimizer.step();
    expect(optimizer.stateDict().param_groups.map((g) => g.kahan_sum)).toEqual([null, true]);
  });
});

describe('zeroGrad({ setToNone: false }) zeroes gradients in place (torch zero_grad(set_to_none=False))', () => {
  it('typed arrays and 16-bit bit patterns keep their array, now all zeros; null gradients stay null', () => {
    const f32 = { data: new Float32Array([1, 2]), grad: new Float32Array([0.5, -0.5]) };
    const f64 = { data: new Float64Array([1]), grad: new Float64Array([3]) };
    const bf16 = {
      data: Uint16Array.of(numberToBfloat16(1)),
      dtype: 'bfloat16' as const,
      grad: Uint16Array.of(numberToBfloat16(-2)),
    };
    const f16 = {
      data: Uint16Array.of(numberToFloat16(1)),
      dtype: 'float16' as const,
      grad: Uint16Array.of(numberToFloat16(0.25)),
    };
    const none: CpuParam = { data: new Float32Array([1]), grad: null };
    const grads = [f32.grad, f64.grad, bf16.grad, f16.grad];
    const optimizer = new StableAdamW([f32, f64, bf16, f16, none], { lr: 0.1 });
    optimizer.zeroGrad({ setToNone: false });
    [f32, f64, bf16, f16].forEach((p, i) => {
      expect(p.grad).toBe(grads[i]);
      expect(Array.from(p.grad)).toEqual(new Array(p.grad.length).fill(0));
    });
    expect(none.grad).toBeNull();
    optimizer.zeroGrad();
    expect([f32, f64, bf16, f16].map((p) => p.grad)).toEqual([null, null, null, null]);
  });

  it.runIf('Float16Array' in globalThis)('native Float16Array gradients too', () => {
    const F16 = (globalThis as unknown as { Float16Array: new (values: number[]) => Float32Array }).Float16Array;
    const p = { data: new F16([1]), grad: new F16([0.5]) } as unknown as CpuParam;
    new StableAdamW([p], { lr: 0.1 }).zeroGrad({ setToNone: false });
    expect(Array.from(p.grad as ArrayLike<number>)).toEqual([0]);
  });

  it("a ParamBuffer's gradient views stay attached, so the next step runs (decay only, hand-derived)", async () => {
    const b = await createParamBuffer([{ shape: [2, 2], init: [1, 1, 1, 1], name: 'w' }]);
    open.push(b);
    const w = b.params[0] as BufferParam;
    const optimizer = new StableAdamW(b.params, { lr: 0.1, weightDecay: 0.5 });
    b.gradOf(w).fill(3);
    optimizer.zeroGrad({ setToNone: false });
    expect(w.grad).toBe(b.gradOf(w));
    expect(Array.from(b.grads)).toEqual(new Array(b.grads.length).fill(0));
    optimizer.step();
    // g = 0: the Adam term is 0/(0 + ε) = 0 and η = lr, so θ·(1 − lr·λ) = 0.95 (float32).
    expect(Array.from(w.data)).toEqual([0.95, 0.95, 0.95, 0.95].map(Math.fround));
    expect(optimizer.paramGroups[0]?.step).toBe(1);
  });

  it('is refused while a threaded step reads the gradients', async () => {
    const b = await createParamBuffer([{ shape: [100] }], { threads: 2 });
    open.push(b);
    const optimizer = new StableAdamW(b.params, { lr: 1e-2 });
    const pending = optimizer.step(() => 'loss');
    expect(pending).toBeInstanceOf(Promise);
    expect(() => optimizer.zeroGrad({ setToNone: false })).toThrow(/still being stepped by worker threads/);
    expect(await pending).toBe('loss');
  });
});

describe('step(closure)', () => {
  // optimi-spec Appendix A, step 1 (optimi 0.3.3's for-loop path reproduces it exactly).
  it('runs the closure, steps with the gradient it set and returns its loss', () => {
    const theta: CpuParam = { data: Float64Array.from([0.5, -0.25, 1.0, 0.0]), grad: null };
    const optimizer = new StableAdamW([theta], { lr: 1e-3 });
    const loss = optimizer.step(() => {
      theta.grad = Float64Array.from([0.1, -0.2, 0.0, 1e-7]);
      return 0.5;
    });
    expect(loss).toBe(0.5);
    [0.49899500999990004, -0.248997504999975, 0.99999, -9.09090909090909e-5].forEach((x, i) => {
      expect(Math.abs((theta.data[i] as number) - x)).toBeLessThanOrEqual(1e-15);
    });
  });
});
