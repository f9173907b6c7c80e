import { describe, expect, it } from 'vitest';
import { type ArrayTensor, arrayOptimizer, arrayParam } from '../examples/array-adapter.js';
import { type CheckpointLayout, checkpointToStateDict, stateDictToCheckpoint } from './checkpoint-layouts.js';
import type { TensorInfo } from './contract.js';
import { bfloat16ToNumber } from './dtype.js';
import { StateDictError } from './errors.js';
import { readSafetensors, type SafetensorsTensor, writeSafetensors } from './safetensors.js';
import type { StateDict } from './state-dict.js';
import { countOutside, goldenGroups, goldenScenario, goldenStateDict } from './testing/golden-scenario.js';

const f64 = (shape: number[], name?: string): TensorInfo => ({
  numel: shape.reduce((a, b) => a * b, 1),
  dtype: 'float64',
  shape,
  ...(name ? { name } : {}),
});

function group(step: number, params: number[], extra: Partial<StateDict['param_groups'][number]> = {}) {
  return {
    lr: 0.01,
    beta1: 0.9,
    beta2: 0.99,
    eps: 1e-6,
    weight_decay: 0.01,
    decouple_lr: false,
    max_lr: null,
    kahan_sum: null,
    gradient_release: false,
    step,
    params,
    ...extra,
  };
}

function errorOf(fn: () => unknown): StateDictError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(StateDictError);
    return error as StateDictError;
  }
  throw new Error('expected a StateDictError');
}

const twoParams: StateDict = {
  state: {
    0: { exp_avg: [1, 2, 3, 4], exp_avg_sq: [4, 8, 12, 16], kahan_comp: null },
    1: { exp_avg: [-1], exp_avg_sq: [0.5], kahan_comp: null },
  },
  param_groups: [group(2, [0, 1])],
};

describe("'torch-adamw' layout", () => {
  it('keeps the group step of steps without gradients (no param state yet), and a torch file stepped further wins', () => {
    const groups = [[f64([1], 'b')]];
    const noState: StateDict = { state: {}, param_groups: [group(3, [0])] };
    const bytes = stateDictToCheckpoint(noState, { layout: 'torch-adamw', groups });
    expect(checkpointToStateDict(bytes, { layout: 'torch-adamw', groups }).stateDict.param_groups[0]?.step).toBe(3);
    // The same metadata beside per-param steps of 5 (torch trained on): the larger count is the group's.
    const stepped: StateDict = {
      state: { 0: { exp_avg: [1], exp_avg_sq: [1], kahan_comp: null } },
      param_groups: [group(5, [0])],
    };
    const { tensors } = readSafetensors(stateDictToCheckpoint(stepped, { layout: 'torch-adamw', groups }));
    const withStaleStep = writeSafetensors(tensors, readSafetensors(bytes).metadata);
    expect(checkpointToStateDict(withStaleStep, { layout: 'torch-adamw', groups }).stateDict.param_groups[0]?.step).toBe(5);
  });

  it("writes torch's biased moments m̂·(1−β1^t), v̂·(1−β2^t), a float32 step and torch's group keys", () => {
    const bytes = stateDictToCheckpoint(twoParams, { layout: 'torch-adamw', groups: [[f64([2, 2], 'w'), f64([1], 'b')]] });
    const { tensors, metadata } = readSafetensors(bytes);
    // t = 2: 1 − 0.9² = 0.19 and 1 − 0.99² = 0.0199, by hand.
    expect(tensors.get('state.0.exp_avg')).toMatchObject({ dtype: 'F64', shape: [2, 2] });
    expect(Array.from(tensors.get('state.0.exp_avg')?.data as Float64Array)).toEqual(
      [0.19, 0.38, 0.57, 0.76].map((x) => expect.closeTo(x, 15)),
    );
    expect(Array.from(tensors.get('state.0.exp_avg_sq')?.data as Float64Array)).toEqual(
      [4, 8, 12, 16].map((x) => x * (1 - 0.99 ** 2)),
    );
    expect(tensors.get('state.1.step')).toEqual({ dtype: 'F32', shape: [], data: Float32Array.of(2) });
    expect(metadata?.layout).toBe('torch-adamw');
    expect(JSON.parse(metadata?.param_names as string)).toEqual({ w: 0, b: 1 });
    expect(JSON.parse(metadata?.param_groups as string)).toEqual([
      {
        lr: 0.01,
        betas: [0.9, 0.99],
        eps: 1e-6,
        weight_decay: 0.01,
        amsgrad: false,
        maximize: false,
        foreach: null,
        capturable: false,
        differentiable: false,
        fused: null,
        params: [0, 1],
      },
    ]);
  });

  it('writes fully decoupled weight decay as the equivalent torch λ/max_lr', () => {
    const sd: StateDict = { state: {}, param_groups: [group(0, [0], { decouple_lr: true, weight_decay: 1e-5, max_lr: 1e-3 })] };
    const { metadata } = readSafetensors(stateDictToCheckpoint(sd, { layout: 'torch-adamw', groups: [[f64([1])]] }));
    expect(JSON.parse(metadata?.param_groups as string)[0].weight_decay).toBeCloseTo(1e-2, 15);
  });

  it('reads a torch file (built by hand) into debiased moments and a group step', () => {
    const bytes = writeSafetensors(
      {
        'state.0.step': { dtype: 'F32', shape: [], data: Float32Array.of(3) },
        'state.0.exp_avg': { dtype: 'F64', shape: [2], data: Float64Array.of(0.271, -0.542) },
        'state.0.exp_avg_sq': { dtype: 'F64', shape: [2], data: Float64Array.of(0.001, 0.002) },
      },
      {
        layout: 'torch-adamw',
        param_groups: JSON.stringify([
          {
            lr: 0.1,
            betas: [0.9, 0.999],
            eps: 1e-8,
            weight_decay: 0,
            amsgrad: false,
            maximize: false,
            initial_lr: 0.1,
            params: [0],
          },
        ]),
      },
    );
    const { stateDict } = checkpointToStateDict(bytes, { layout: 'torch-adamw' });
    // t = 3: 1 − 0.9³ = 0.271, 1 − 0.999³ = 0.002997001.
    expect(stateDict.state[0]?.exp_avg[0]).toBeCloseTo(1, 14);
    expect(stateDict.state[0]?.exp_avg[1]).toBeCloseTo(-2, 14);
    expect(stateDict.state[0]?.exp_avg_sq[0]).toBeCloseTo(0.001 / 0.002997001, 14);
    expect(stateDict.param_groups[0]).toMatchObject({
      lr: 0.1,
      beta1: 0.9,
      beta2: 0.999,
      eps: 1e-8,
      step: 3,
      decouple_lr: false,
    });
  });

  const torchFile = (groupExtra: object, stateExtra: Record<string, SafetensorsTensor> = {}, steps = [1, 1]) =>
    writeSafetensors(
      {
        ...Object.fromEntries(
          steps.flatMap((t, i) => [
            [`state.${i}.step`, { dtype: 'F32', shape: [], data: Float32Array.of(t) }],
            [`state.${i}.exp_avg`, { dtype: 'F32', shape: [1], data: Float32Array.of(0.1) }],
            [`state.${i}.exp_avg_sq`, { dtype: 'F32', shape: [1], data: Float32Array.of(0.01) }],
          ]),
        ),
        ...stateExtra,
      },
      {
        layout: 'torch-adamw',
        param_groups: JSON.stringify([
          { lr: 0.1, betas: [0.9, 0.999], eps: 1e-8, weight_decay: 0, params: [0, 1], ...groupExtra },
        ]),
      },
    );

  it.each([
    ['maximize', torchFile({ maximize: true }), '__metadata__.param_groups[0].maximize'],
    ['amsgrad state', torchFile({ amsgrad: true }), 'state.0'],
    [
      'a max_exp_avg_sq tensor',
      torchFile({}, { 'state.1.max_exp_avg_sq': { dtype: 'F32', shape: [1], data: Float32Array.of(0) } }),
      'state.1.max_exp_avg_sq',
    ],
    ['params of a group at different steps', torchFile({}, {}, [2, 3]), 'state.1.step'],
    ['bad betas', torchFile({ betas: [0.9] }), '__metadata__.param_groups[0].betas'],
  ])('refuses %s with a typed error', (_, bytes, path) => {
    expect(errorOf(() => checkpointToStateDict(bytes, { layout: 'torch-adamw' })).path).toBe(path);
  });

  it('keeps per-param steps for a gradient-release optimizer', () => {
    const { stateDict } = checkpointToStateDict(torchFile({}, {}, [2, 3]), { layout: 'torch-adamw', gradientRelease: true });
    expect([stateDict.state[0]?.step, stateDict.state[1]?.step]).toEqual([2, 3]);
    expect(stateDict.param_groups[0]?.gradient_release).toBe(true);
  });
});

describe("'optimi' layout", () => {
  it('stores bf16 moments and kahan_comp bit for bit, with eps_sq and the group step', () => {
    const bits = [0x3f80, 0xbe4d, 0x0001, 0x7f7f, 0x8000, 0x3c23];
    const values = bits.map(bfloat16ToNumber);
    const sd: StateDict = {
      state: { 0: { exp_avg: values, exp_avg_sq: values.map(Math.abs), kahan_comp: values.map((x) => -x), step: 7 } },
      param_groups: [group(7, [0], { gradient_release: true, kahan_sum: true })],
    };
    const info: TensorInfo = { numel: 6, dtype: 'bfloat16', shape: [2, 3] };
    const bytes = stateDictToCheckpoint(sd, { layout: 'optimi', groups: [[info]] });
    const { tensors, metadata } = readSafetensors(bytes);
    expect(tensors.get('state.0.exp_avg')).toEqual({ dtype: 'BF16', shape: [2, 3], data: Uint16Array.from(bits) });
    expect(tensors.get('state.0.kahan_comp')?.data).toEqual(Uint16Array.from(bits, (b) => b ^ 0x8000));
    expect(tensors.get('state.0.step')).toEqual({ dtype: 'I64', shape: [], data: BigInt64Array.of(7n) });
    expect(tensors.get('state.0.eps_sq')?.dtype).toBe('BF16');
    expect(JSON.parse(metadata?.param_groups as string)[0]).toMatchObject({ beta1: 0.9, beta2: 0.99, kahan_sum: true, step: 7 });
    const back = checkpointToStateDict(bytes, { layout: 'optimi', groups: [[info]] }).stateDict;
    expect(back.state[0]).toEqual(sd.state[0]);
    expect(back.param_groups).toEqual(sd.param_groups);
  });

  it('keeps non-finite values, skipped steps, the loss scaler and non_finite policies', () => {
    const sd: StateDict = {
      state: { 0: { exp_avg: ['NaN', 'Infinity'], exp_avg_sq: ['-Infinity', 0], kahan_comp: null } },
      param_groups: [group(1, [0], { non_finite: 'skip' })],
      skipped_steps: 3,
    };
    const bytes = stateDictToCheckpoint(sd, { layout: 'optimi', groups: [[f64([2])]] });
    expect(checkpointToStateDict(bytes, { layout: 'optimi' }).stateDict).toEqual(sd);
  });

  it('refuses a file saved in the other layout, naming the right one', () => {
    const bytes = stateDictToCheckpoint(twoParams, { layout: 'torch-adamw', groups: [[f64([4]), f64([1])]] });
    const error = errorOf(() => checkpointToStateDict(bytes, { layout: 'optimi' }));
    expect(error.path).toBe('__metadata__.layout');
    expect(error.message).toContain("{ layout: 'torch-adamw' }");
  });
});

describe('both layouts', () => {
  const layouts: CheckpointLayout[] = ['optimi', 'torch-adamw'];

  it.each(layouts)('%s: loads by name when the param order changed, and returns the params', (layout) => {
    const saved = [f64([2, 2], 'w'), f64([1], 'b')];
    const bytes = stateDictToCheckpoint(twoParams, { layout, groups: [saved], params: [[5, 6, 7, 8], [9]] });
    const loaded = checkpointToStateDict(bytes, { layout, groups: [[saved[1] as TensorInfo, saved[0] as TensorInfo]] });
    expect(loaded.stateDict.state[1]?.exp_avg.map((x) => Number(x))).toEqual([1, 2, 3, 4].map((x) => expect.closeTo(x, 12)));
    expect(loaded.stateDict.state[0]?.exp_avg_sq.map((x) => Number(x))).toEqual([expect.closeTo(0.5, 12)]);
    expect(Array.from(loaded.paramValues[0]?.values ?? [])).toEqual([9]);
    expect(loaded.params.get('w')).toEqual({ dtype: 'float64', shape: [2, 2], values: Float64Array.of(5, 6, 7, 8) });
  });

  it.each(layouts)('%s: refuses a name the checkpoint lacks, and a param of another size', (layout) => {
    const groups = [[f64([4], 'w'), f64([1], 'b')]];
    const bytes = stateDictToCheckpoint(twoParams, { layout, groups });
    expect(errorOf(() => checkpointToStateDict(bytes, { layout, groups: [[f64([4], 'w'), f64([1], 'c')]] })).path).toBe(
      '__metadata__.param_names',
    );
    expect(errorOf(() => checkpointToStateDict(bytes, { layout, groups: [[f64([5], 'w'), f64([1], 'b')]] })).path).toBe(
      'state.0.exp_avg',
    );
    expect(errorOf(() => checkpointToStateDict(bytes, { layout, groups: [[f64([4], 'w')]] })).path).toBe(
      '__metadata__.param_groups[0].params',
    );
  });

  it('refuses state dicts that do not fit the groups, and duplicate names', () => {
    expect(errorOf(() => stateDictToCheckpoint(twoParams, { layout: 'optimi', groups: [[f64([4])]] })).path).toBe(
      'param_groups[0].params',
    );
    expect(errorOf(() => stateDictToCheckpoint(twoParams, { layout: 'optimi', groups: [[f64([3]), f64([1])]] })).path).toBe(
      'state.0.exp_avg',
    );
    expect(
      errorOf(() => stateDictToCheckpoint(twoParams, { layout: 'optimi', groups: [[f64([4], 'x'), f64([1], 'x')]] })).path,
    ).toBe('names[1]');
    expect(errorOf(() => stateDictToCheckpoint(twoParams, { layout: 'adam' as CheckpointLayout, groups: [] })).path).toBe(
      'layout',
    );
  });

  it('a bad file changes nothing in the optimizer it was meant for', () => {
    const p = arrayParam([1, 2, 3, 4]);
    const q = arrayParam([5]);
    const opt = arrayOptimizer([p, q], { lr: 0.01 });
    p.grad = arrayParam([0.1, 0.2, 0.3, 0.4]);
    q.grad = arrayParam([1]);
    opt.step();
    const before = JSON.stringify(opt.stateDict());
    const bytes = stateDictToCheckpoint(opt.stateDict() as StateDict, { layout: 'optimi', groups: [[f64([4]), f64([1])]] });
    const corrupt = bytes.slice(0, bytes.length - 1);
    expect(() => opt.loadStateDict(checkpointToStateDict(corrupt, { layout: 'optimi' }).stateDict)).toThrow(StateDictError);
    expect(JSON.stringify(opt.stateDict())).toBe(before);
  });
});

describe("optimi's golden trajectories through an 'optimi' checkpoint", () => {
  it.each(['defaults-f32', 'param-groups-f32', 'decoupled-lr-schedule-f32', 'skipped-grads-f32', 'float64'])(
    '%s: state at step 8 saved, loaded into a fresh optimizer, continues on the recorded trajectory',
    (name) => {
      const s = goldenScenario(name);
      const k = 8;
      const groups = goldenGroups(s);
      const bytes = stateDictToCheckpoint(goldenStateDict(s, k), {
        layout: 'optimi',
        groups,
        params: s.steps[k - 1]?.params,
      });
      const dtype = s.dtype as ArrayTensor['dtype'];
      const params = s.params.map((p) => arrayParam(new Float64Array(p.init.length), dtype));
      const opt = arrayOptimizer(
        s.groups.map((g) => ({ params: g.params.map((i) => params[i] as ArrayTensor) })),
        { lr: 123 },
      );
      const loaded = checkpointToStateDict(bytes, { layout: 'optimi', groups });
      s.groups
        .flatMap((g) => g.params)
        .forEach((i, flat) => {
          (params[i] as ArrayTensor).values.set(loaded.paramValues[flat]?.values ?? []);
        });
      opt.loadStateDict(loaded.stateDict);
      let compared = 0;
      for (const step of s.steps.slice(k)) {
        step.lr?.forEach((lr, g) => {
          (opt.paramGroups[g] as { lr: number }).lr = lr;
        });
        step.grads.forEach((grad, i) => {
          (params[i] as ArrayTensor).grad = grad ? arrayParam(grad) : null;
        });
        opt.step();
        step.params.forEach((expected, i) => {
          expect(countOutside((params[i] as ArrayTensor).values, expected, s.tolerance)).toBe(0);
          compared += expected.length;
        });
      }
      expect(compared).toBeGreaterThan(100);
    },
  );
});
