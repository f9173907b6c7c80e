import { DynamicLossScaler, type DynamicLossScalerOptions, type StateDict } from '@stable-adamw/core';
import { ReferenceStableAdamW, type ReferenceTensorState, resolveOptions } from '@stable-adamw/core/adapter';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { expect, it, vi } from 'vitest';
import { prepareForGradientRelease, StableAdamW, stableAdamW, type TfjsStableAdamWOptions } from '../index.js';
import { seededValues as values } from '../testing/seeded-values.js';

// Scenarios the device-skip browser tests of tfjs-webgpu and tfjs-webgl share (test code only).

export const SKIP_OPTIONS = { lr: 1e-2, weightDecay: 0.1, nonFinite: 'skip' } as const;

export const unique = (tag: string) => `${tag}_${Math.random()}`;

/** Largest |actual − expected| beyond an fp32 tolerance of 1e-6 + 1e-5·|expected| (≤ 0: within it). */
export function excess(actual: ArrayLike<number>[], expected: ArrayLike<number>[]): number {
  let worst = Number.NEGATIVE_INFINITY;
  actual.forEach((a, i) => {
    const e = expected[i] as ArrayLike<number>;
    for (let j = 0; j < e.length; j++) {
      const b = e[j] as number;
      worst = Math.max(worst, Math.abs((a[j] as number) - b) - (1e-6 + 1e-5 * Math.abs(b)));
    }
  });
  return worst;
}

/**
 * Variables of `sizes`, their optimizer, and seeded gradients with `bad` written into tensor `at`
 * of some steps. `onDevice`: gradients come out of a program (device textures), else from host arrays.
 */
export function skipModel(sizes: readonly number[], options: TfjsStableAdamWOptions = SKIP_OPTIONS, onDevice = false) {
  // tidy frees the initial values (the variables hold copies) and keeps the variables.
  const vars = sizes.map((n, i) => tf.tidy(() => tf.variable(tf.tensor1d(values(n, i + 1, 1)), true, unique(`skip${i}`))));
  const opt = new StableAdamW(vars, options);
  const gradient = (t: number, i: number, bad?: number) => {
    const g = values(sizes[i] as number, 1000 * t + i + 7, t % 3 === 2 ? 50 : 0.1);
    if (bad !== undefined) g[(sizes[i] as number) - 1] = bad;
    return g;
  };
  const upload = (g: Float32Array) => (onDevice ? tf.tidy(() => tf.mul(tf.tensor1d(g), 1)) : tf.tensor1d(g));
  const grads = (t: number, bad?: { at: number; value: number }) =>
    vars.map((v, i) => ({ name: v.name, tensor: upload(gradient(t, i, i === bad?.at ? bad.value : undefined)) }));
  const step = (t: number, bad?: { at: number; value: number }) => {
    const named = grads(t, bad);
    try {
      opt.applyGradients(named);
    } finally {
      tf.dispose(named.map((g) => g.tensor));
    }
  };
  return {
    vars,
    opt,
    gradient,
    grads,
    step,
    dispose() {
      opt.dispose();
      tf.dispose(vars);
    },
  };
}

/**
 * 12 `minimize` steps with a loss scaler on `backend` (steps 3 and 7 overflow: an infinite loss
 * makes every gradient non-finite): the scale after each step, the losses, the counters, the
 * params and the state dicts after step 5 and at the end.
 */
async function scaledRun(backend: string, options: DynamicLossScalerOptions) {
  if (!(await tf.setBackend(backend))) throw new Error(`no ${backend} backend`);
  const w = tf.tidy(() => tf.variable(tf.tensor1d(values(2000, 3, 1)), true, unique(`scaled_${backend}`)));
  const scaler = new DynamicLossScaler(options);
  const opt = new StableAdamW([w], { lr: 1e-2, nonFinite: 'skip', lossScaler: scaler });
  const target = tf.tensor1d(values(2000, 9, 2));
  const scales: number[] = [];
  const losses: number[] = [];
  let mid: StateDict | undefined;
  for (let t = 0; t < 12; t++) {
    const poison = t === 3 || t === 7 ? Number.POSITIVE_INFINITY : 1;
    const loss = opt.minimize(() => tf.mul(tf.sum(tf.square(tf.sub(w, target))), poison) as tf.Scalar, true);
    losses.push((await loss?.data())?.[0] as number);
    loss?.dispose();
    await opt.settled();
    scales.push(scaler.scale);
    if (t === 5) mid = await opt.stateDict();
  }
  const out = {
    scales,
    losses,
    skipped: opt.skippedSteps,
    step: opt.paramGroups[0]?.step,
    params: await w.data(),
    mid: mid as StateDict,
    end: await opt.stateDict(),
  };
  opt.dispose();
  tf.dispose([w, target]);
  return out;
}

/** The README's `model.fit` with a loss scaler beyond float32 (2^130) on `backend`. */
async function scaledFit(backend: string) {
  const layers = tfl;
  if (!(await tf.setBackend(backend))) throw new Error(`no ${backend} backend`);
  const model = layers.sequential({
    layers: [layers.layers.dense({ units: 1, inputShape: [2], kernelInitializer: 'ones', biasInitializer: 'zeros' })],
  });
  const lossScaler = new DynamicLossScaler({ initScale: 2 ** 130, maxScale: 2 ** 130 });
  const optimizer = stableAdamW({ lr: 1e-2, lossScaler });
  model.compile({ optimizer, loss: 'meanSquaredError' });
  const xs = tf.tensor2d(values(128, 5, 2), [64, 2]);
  const ys = tf.mul(tf.sum(xs, 1, true), 0.5);
  const history = await model.fit(xs, ys, { epochs: 2, batchSize: 16, shuffle: false, verbose: 0 });
  await optimizer.settled();
  const out = {
    skipped: optimizer.skippedSteps,
    scale: lossScaler.scale,
    losses: history.history.loss as number[],
    kernel: await (model.getWeights()[0] as tf.Tensor).data(),
  };
  tf.dispose([xs, ys]);
  model.dispose();
  return out;
}

/** The moments of a one-tensor state dict. */
const momentsOf = (sd: StateDict) => [sd.state[0]?.exp_avg as number[], sd.state[0]?.exp_avg_sq as number[]];

/** The float32 reference of `skipModel(sizes)`: one group over every tensor. */
export function referenceOf(sizes: readonly number[], options: TfjsStableAdamWOptions = SKIP_OPTIONS) {
  return new ReferenceStableAdamW(
    sizes.map((n, i) => values(n, i + 1, 1)),
    [{ params: sizes.map((_, i) => i), hyperparameters: resolveOptions(options) }],
    'float32',
  );
}

/** The cases both GPU backends that keep the counters on the device pass alike (inside a `describe`). */
export function sharedDeviceSkipCases(backend: 'webgl' | 'webgpu'): void {
  it('keeps a loss scaler on the device: the same scales, skips and params as on the cpu backend', async () => {
    const small = { initScale: 2 ** 10, growthInterval: 2, maxScale: 2 ** 11 };
    const gpu = await scaledRun(backend, small);
    const cpu = await scaledRun('cpu', small);
    // Backoff at steps 3 and 7, growth every 2 clean steps, capped at 2^11 (step 11).
    expect(cpu.scales).toEqual([1024, 2048, 2048, 1024, 1024, 2048, 2048, 1024, 1024, 2048, 2048, 2048]);
    expect(gpu.scales).toEqual(cpu.scales);
    expect([gpu.skipped, gpu.step]).toEqual([cpu.skipped, cpu.step]);
    expect([cpu.skipped, cpu.step]).toEqual([2, 10]);
    expect(excess([gpu.losses.filter(Number.isFinite)], [cpu.losses.filter(Number.isFinite)])).toBeLessThanOrEqual(0);
    expect(excess([gpu.params], [cpu.params])).toBeLessThanOrEqual(0);
    for (const key of ['mid', 'end'] as const) {
      const [a, b] = [gpu[key], cpu[key]];
      expect({ ...a, state: undefined }).toEqual({ ...b, state: undefined });
      expect(excess(momentsOf(a), momentsOf(b))).toBeLessThanOrEqual(0);
    }
    // A scale beyond float32's range (2^130 is Inf there; 1 / 2^127 is subnormal) backs off as in float64.
    const huge = { initScale: 2 ** 130, maxScale: 2 ** 130, growthInterval: 3 };
    const [hugeGpu, hugeCpu] = [await scaledRun(backend, huge), await scaledRun('cpu', huge)];
    expect(hugeCpu.skipped).toBeGreaterThan(3);
    expect(hugeGpu.scales).toEqual(hugeCpu.scales);
    expect([hugeGpu.skipped, hugeGpu.step]).toEqual([hugeCpu.skipped, hugeCpu.step]);
    expect(excess([hugeGpu.params], [hugeCpu.params])).toBeLessThanOrEqual(0);
  });

  it('model.fit with a loss scaler beyond float32 (the README example): as on the cpu backend', async () => {
    const gpu = await scaledFit(backend);
    const cpu = await scaledFit('cpu');
    expect(cpu.skipped).toBeGreaterThan(0);
    expect([gpu.skipped, gpu.scale]).toEqual([cpu.skipped, cpu.scale]);
    expect(excess([gpu.losses], [cpu.losses])).toBeLessThanOrEqual(0);
    expect(excess([gpu.kernel], [cpu.kernel])).toBeLessThanOrEqual(0);
  });

  it('restarts from a loaded state: the next step uses its counters', async () => {
    expect(await tf.setBackend(backend)).toBe(true);
    const sizes = [100, 7];
    const m = skipModel(sizes);
    for (let t = 0; t < 3; t++) m.step(t, t === 1 ? { at: 0, value: Number.NaN } : undefined);
    const saved = await m.opt.stateDict();
    expect([saved.param_groups[0]?.step, saved.skipped_steps]).toEqual([2, 1]);
    const params = await Promise.all(m.vars.map((v) => v.data()));
    m.step(3);
    m.step(4, { at: 1, value: Number.NaN });
    // Loaded without waiting: the steps still being read back must not overwrite it.
    m.opt.loadStateDict(saved);
    m.vars.forEach((v, i) => {
      v.assign(tf.tensor1d(params[i] as Float32Array));
    });
    m.step(3);
    await m.opt.settled();
    expect([m.opt.paramGroups[0]?.step, m.opt.skippedSteps]).toEqual([3, 1]);
    const reference = referenceOf(sizes);
    for (const t of [0, 2, 3]) reference.step(sizes.map((_, i) => m.gradient(t, i)));
    expect(excess(await Promise.all(m.vars.map((v) => v.data())), reference.params)).toBeLessThanOrEqual(0);
    m.dispose();
  });

  it('refuses a step counted on the host while the device’s counters are not read back', async () => {
    expect(await tf.setBackend(backend)).toBe(true);
    const m = skipModel([10]);
    m.step(0);
    (m.opt.paramGroups[0] as { nonFinite: string }).nonFinite = 'propagate';
    expect(() => m.step(1)).toThrow(/settled\(\)/);
    await m.opt.settled();
    m.step(1);
    expect(m.opt.paramGroups[0]?.step).toBe(2);
    m.dispose();
  });
}

/** Gradient release under 'skip': two groups with different betas (and weight decay). */
const RELEASE_SIZES = [5, 1025, 3, 64];
const RELEASE_GROUPS = [
  { params: [0, 1], betas: [0.9, 0.99] as [number, number], weightDecay: 0.1 },
  { params: [2, 3], betas: [0.8, 0.95] as [number, number], weightDecay: 0 },
];
const RELEASE_OPTIONS = { lr: 1e-2, nonFinite: 'skip', gradientRelease: true } as const;
const RELEASE_ITERATIONS = 10;
/** Optimizer accumulation: two moment-only micro-batches, then the full update (iterations 2, 5, 8). */
const accumulating = (t: number) => t % 3 !== 2;
/**
 * NaN/±Inf gradients by `iteration,tensor`: in moment-only and in full-update calls, two in one
 * iteration, and in the last call of the run (`lastStepSkipped` stays true).
 */
const RELEASE_BAD: Record<string, number> = {
  '1,1': Number.NaN,
  '4,0': Number.NEGATIVE_INFINITY,
  '4,3': Number.NaN,
  '5,2': Number.POSITIVE_INFINITY,
  '8,1': Number.NaN,
  '9,0': Number.NaN,
};
/** Backprop order: the last tensor's gradient is known first. */
const RELEASE_ORDER = [3, 2, 1, 0];

const releaseGradient = (t: number, i: number) => {
  const g = values(RELEASE_SIZES[i] as number, 500 * t + i + 3, t % 4 === 1 ? 20 : 0.1);
  const bad = RELEASE_BAD[`${t},${i}`];
  if (bad !== undefined) g[t % (RELEASE_SIZES[i] as number)] = bad;
  return g;
};

/** The float32 reference of `releaseSkipRun`: clean calls only (the skipped ones change nothing). */
export function releaseSkipReference() {
  const reference = new ReferenceStableAdamW(
    RELEASE_SIZES.map((n, i) => values(n, i + 11, 1)),
    RELEASE_GROUPS.map(({ params, ...group }) => ({
      params,
      hyperparameters: resolveOptions({ ...RELEASE_OPTIONS, ...group }),
    })),
    'float32',
  );
  const lastSkipped: boolean[] = [];
  let skipped = 0;
  let last = false;
  for (let t = 0; t < RELEASE_ITERATIONS; t++) {
    for (const i of RELEASE_ORDER) {
      last = RELEASE_BAD[`${t},${i}`] !== undefined;
      if (last) skipped += 1;
      else reference.stepParam(i, releaseGradient(t, i), accumulating(t));
    }
    lastSkipped.push(last);
  }
  return { reference, skipped, lastSkipped };
}

/**
 * `RELEASE_ITERATIONS` iterations of `stepParam` calls (gradient release, optimizer accumulation)
 * on `backend`, with NaN/±Inf gradients in some calls (`RELEASE_BAD`). `restartAt`: after that
 * iteration, a new optimizer over new variables continues from the state dict and the values.
 * Returns the params, the final state dict, `skippedSteps` and `lastStepSkipped` after each
 * iteration, the synchronous readbacks of iterations 1.. and the tensors those added, and with
 * `countDispatches` (webgpu) the compute dispatches of those iterations.
 */
export async function releaseSkipRun(backend: string, restartAt?: number, countDispatches = false) {
  if (!(await tf.setBackend(backend))) throw new Error(`no ${backend} backend`);
  const build = (init: readonly ArrayLike<number>[]) => {
    const vars = init.map((x) => tf.tidy(() => tf.variable(tf.tensor1d(Float32Array.from(x)), true, unique('release'))));
    const groups = RELEASE_GROUPS.map(({ params, ...group }) => ({
      ...group,
      params: params.map((i) => vars[i] as tf.Variable),
    }));
    return { vars, opt: new StableAdamW(groups, RELEASE_OPTIONS) };
  };
  let { vars, opt } = build(RELEASE_SIZES.map((n, i) => values(n, i + 11, 1)));
  const lastSkipped: boolean[] = [];
  const skipped: number[] = [];
  let readSyncs = 0;
  let dispatches = 0;
  let tensors = 0;
  let bytes = 0;
  for (let t = 0; t < RELEASE_ITERATIONS; t++) {
    const readSync = t > 0 ? vi.spyOn(tf.backend(), 'readSync') : undefined;
    const dispatch = t > 0 && countDispatches ? vi.spyOn(GPUComputePassEncoder.prototype, 'dispatchWorkgroups') : undefined;
    opt.accumulate = accumulating(t);
    for (const i of RELEASE_ORDER) {
      const grad = tf.tensor1d(releaseGradient(t, i));
      try {
        opt.stepParam(vars[i] as tf.Variable, grad);
      } finally {
        grad.dispose();
      }
    }
    readSyncs += readSync?.mock.calls.length ?? 0;
    readSync?.mockRestore();
    dispatches += dispatch?.mock.calls.length ?? 0;
    dispatch?.mockRestore();
    await opt.settled();
    lastSkipped.push(opt.lastStepSkipped);
    skipped.push(opt.skippedSteps);
    if (t === 0) ({ numTensors: tensors, numBytes: bytes } = tf.memory());
    if (t === restartAt) {
      const saved = await opt.stateDict();
      const next = build(await Promise.all(vars.map((v) => v.data())));
      next.opt.loadStateDict(saved);
      opt.dispose();
      tf.dispose(vars);
      ({ vars, opt } = next);
    }
  }
  const out = {
    params: await Promise.all(vars.map((v) => v.data())),
    state: await opt.stateDict(),
    skipped,
    lastSkipped,
    readSyncs,
    dispatches,
    addedTensors: tf.memory().numTensors - tensors,
    addedBytes: tf.memory().numBytes - bytes,
  };
  opt.dispose();
  tf.dispose(vars);
  return out;
}

/**
 * The release cases of a backend where 'skip' under gradient release runs (inside a `describe`):
 * synchronous readbacks per `stepParam` call, and on webgpu the compute dispatches per call.
 */
export function releaseSkipCases(
  backend: string,
  costs: { readonly readSyncsPerCall: number; readonly dispatchesPerCall?: number },
): void {
  it('gradient release with NaN/±Inf gradients (accumulation, two groups): as the float32 reference, counters included', async () => {
    const run = await releaseSkipRun(backend, undefined, costs.dispatchesPerCall !== undefined);
    const { reference, skipped, lastSkipped } = releaseSkipReference();
    expect(run.skipped.at(-1)).toBe(skipped);
    expect(run.lastSkipped).toEqual(lastSkipped);
    expect(lastSkipped.filter(Boolean).length).toBeGreaterThan(0);
    expect(excess(run.params, reference.params)).toBeLessThanOrEqual(0);
    expect(run.state.skipped_steps).toBe(skipped);
    // Per-variable steps count the clean calls only; the group steps are step()'s, never called here.
    expect(Object.values(run.state.state).map((s) => s.step)).toEqual(reference.paramSteps);
    expect(run.state.param_groups.map((g) => g.step)).toEqual([0, 0]);
    const moments = (key: 'exp_avg' | 'exp_avg_sq') => Object.values(run.state.state).map((s) => s[key].map(Number));
    const expected = reference.state.map((s) => s as ReferenceTensorState);
    expect(
      excess(
        moments('exp_avg'),
        expected.map((s) => s.expAvg),
      ),
    ).toBeLessThanOrEqual(0);
    expect(
      excess(
        moments('exp_avg_sq'),
        expected.map((s) => s.expAvgSq),
      ),
    ).toBeLessThanOrEqual(0);
    const calls = (RELEASE_ITERATIONS - 1) * RELEASE_ORDER.length;
    expect(run.readSyncs).toBe(costs.readSyncsPerCall * calls);
    if (costs.dispatchesPerCall !== undefined) expect(run.dispatches).toBe(costs.dispatchesPerCall * calls);
    expect([run.addedTensors, run.addedBytes]).toEqual([0, 0]);
    // Saved mid-run and loaded into a new optimizer: the same run.
    const restarted = await releaseSkipRun(backend, 4);
    expect(restarted.skipped).toEqual(run.skipped);
    expect(restarted.lastSkipped).toEqual(run.lastSkipped);
    expect(restarted.params).toEqual(run.params);
    expect(restarted.state).toEqual(run.state);
  });
}

/**
 * A `stepParam` skipped for a NaN gradient, then whole steps (`applyGradients`) on `backend`,
 * with a loss scaler (growth every clean step): the counters after each call, params and state.
 */
async function skippedCallThenStep(backend: string) {
  if (!(await tf.setBackend(backend))) throw new Error(`no ${backend} backend`);
  const vars = [40, 7].map((n, i) =>
    tf.tidy(() => tf.variable(tf.tensor1d(values(n, i + 21, 1)), true, unique(`since_${backend}`))),
  );
  const [a, b] = vars as [tf.Variable, tf.Variable];
  const scaler = new DynamicLossScaler({ initScale: 2 ** 10, growthInterval: 1 });
  const opt = new StableAdamW(vars, { ...SKIP_OPTIONS, gradientRelease: true, lossScaler: scaler });
  const counters: { scale: number; skipped: number; last: boolean }[] = [];
  let readSyncs = 0;
  const gradient = (v: tf.Variable, t: number, bad?: number) => {
    const g = values(v.size, 100 * t + v.size, 2 ** 10);
    if (bad !== undefined) g[1] = bad;
    return tf.tensor1d(g);
  };
  const call = async (fn: () => void, grads: tf.Tensor[]) => {
    const readSync = vi.spyOn(tf.backend(), 'readSync');
    try {
      fn();
    } finally {
      readSyncs += readSync.mock.calls.length;
      readSync.mockRestore();
      tf.dispose(grads);
    }
    await opt.settled();
    counters.push({ scale: scaler.scale, skipped: opt.skippedSteps, last: opt.lastStepSkipped });
  };
  const ga = gradient(a, 0, Number.NaN);
  await call(() => opt.stepParam(a, ga), [ga]);
  for (const t of [1, 2]) {
    const gb = gradient(b, t);
    await call(() => opt.applyGradients([{ name: b.name, tensor: gb }]), [gb]);
  }
  const [ga3, gb3] = [gradient(a, 3), gradient(b, 3)];
  await call(() => opt.stepParam(a, ga3), []);
  await call(
    () =>
      opt.applyGradients([
        { name: a.name, tensor: ga3 },
        { name: b.name, tensor: gb3 },
      ]),
    [ga3, gb3],
  );
  const out = { counters, readSyncs, params: await Promise.all(vars.map((v) => v.data())), state: await opt.stateDict() };
  opt.dispose();
  tf.dispose(vars);
  return out;
}

/** A `stepParam` skipped on the host or the device reaches the next whole step (inside a `describe`). */
export function skippedCallCases(backend: 'webgl' | 'webgpu'): void {
  it('a skipped stepParam counts as an overflow of the next whole step, which clears it: as on the cpu backend', async () => {
    const device = await skippedCallThenStep(backend);
    const cpu = await skippedCallThenStep('cpu');
    // Hand-derived (core's rules): the skip is counted at once; the next step() backs the scale off
    // and reports itself skipped although it ran; later clean steps grow the scale again.
    expect(cpu.counters).toEqual([
      { scale: 1024, skipped: 1, last: true },
      { scale: 512, skipped: 1, last: true },
      { scale: 1024, skipped: 1, last: false },
      { scale: 1024, skipped: 1, last: false },
      { scale: 2048, skipped: 1, last: false },
    ]);
    expect(device.counters).toEqual(cpu.counters);
    // stepParam and whole steps both decided on the device.
    expect(device.readSyncs).toBe(0);
    expect({ ...device.state, state: undefined }).toEqual({ ...cpu.state, state: undefined });
    expect(excess(device.params, cpu.params)).toBeLessThanOrEqual(0);
  });
}

/** Gradient release with a loss scaler through `minimize`: a linear loss, so each gradient is its coefficients exactly. */
const SCALED_RELEASE_SIZES = [6, 1100, 3];
const SCALED_RELEASE_ITERATIONS = 10;
const SCALED_RELEASE_SCALER = { initScale: 2 ** 10, growthInterval: 2 } as const;
/** NaN/±Inf coefficients by `iteration,tensor`: one variable, two in one iteration, and the last iteration. */
const SCALED_RELEASE_BAD: Record<string, number> = {
  '2,1': Number.NaN,
  '5,0': Number.POSITIVE_INFINITY,
  '5,2': Number.NEGATIVE_INFINITY,
  '9,1': Number.NaN,
};
const SCALED_RELEASE_OPTIONS = { lr: 1e-2, weightDecay: 0.1, nonFinite: 'skip', gradientRelease: true } as const;

const coefficients = (t: number, i: number) => {
  const c = values(SCALED_RELEASE_SIZES[i] as number, 300 * t + i + 5, t % 4 === 3 ? 30 : 0.5);
  const bad = SCALED_RELEASE_BAD[`${t},${i}`];
  if (bad !== undefined) c[t % (SCALED_RELEASE_SIZES[i] as number)] = bad;
  return c;
};

/**
 * `SCALED_RELEASE_ITERATIONS` gradient-release `minimize` calls on `backend`, loss Σᵢ Σ(vᵢ · cᵢ),
 * with a loss scaler: the scale, `skippedSteps` and `lastStepSkipped` after each, the returned
 * (unscaled) losses, the params and state dict, the synchronous readbacks of iterations 1.. and
 * the tensors those added.
 */
async function scaledReleaseRun(backend: string) {
  if (!(await tf.setBackend(backend))) throw new Error(`no ${backend} backend`);
  const vars = SCALED_RELEASE_SIZES.map((n, i) =>
    tf.tidy(() => tf.variable(tf.tensor1d(values(n, i + 31, 1)), true, unique(`scaled_release_${backend}`))),
  );
  const scaler = new DynamicLossScaler(SCALED_RELEASE_SCALER);
  const opt = new StableAdamW(vars, { ...SCALED_RELEASE_OPTIONS, lossScaler: scaler });
  const release = prepareForGradientRelease(vars, opt);
  const run = { scales: [] as number[], skipped: [] as number[], last: [] as boolean[], losses: [] as number[] };
  let readSyncs = 0;
  let tensors = 0;
  for (let t = 0; t < SCALED_RELEASE_ITERATIONS; t++) {
    const c = vars.map((_, i) => tf.tensor1d(coefficients(t, i)));
    const readSync = t > 0 ? vi.spyOn(tf.backend(), 'readSync') : undefined;
    const loss = opt.minimize(
      () => tf.addN(vars.map((v, i) => tf.sum(tf.mul(release.read(v), c[i] as tf.Tensor)))) as tf.Scalar,
      true,
    ) as tf.Scalar;
    readSyncs += readSync?.mock.calls.length ?? 0;
    readSync?.mockRestore();
    tf.dispose(c);
    run.losses.push((await loss.data())[0] as number);
    loss.dispose();
    await opt.settled();
    run.scales.push(scaler.scale);
    run.skipped.push(opt.skippedSteps);
    run.last.push(opt.lastStepSkipped);
    if (t === 0) tensors = tf.memory().numTensors;
  }
  const out = {
    ...run,
    params: await Promise.all(vars.map((v) => v.data())),
    state: await opt.stateDict(),
    iterations: opt.iterations,
    readSyncs,
    addedTensors: tf.memory().numTensors - tensors,
  };
  opt.dispose();
  tf.dispose(vars);
  return out;
}

/**
 * `scaledReleaseRun` with a backprop of the caller's own: each iteration reads the scale once the
 * counters are read back (`settled()`), hands each variable its scaled gradient (`c · scale`, the
 * gradient of the scaled linear loss) through `stepParam`, and ends with `applyGradients({})`, a
 * step without gradients that updates the scaler. Returns what `scaledReleaseRun` does, but the losses.
 */
async function directScaledReleaseRun(backend: string) {
  if (!(await tf.setBackend(backend))) throw new Error(`no ${backend} backend`);
  const vars = SCALED_RELEASE_SIZES.map((n, i) =>
    tf.tidy(() => tf.variable(tf.tensor1d(values(n, i + 31, 1)), true, unique(`direct_release_${backend}`))),
  );
  const scaler = new DynamicLossScaler(SCALED_RELEASE_SCALER);
  const opt = new StableAdamW(vars, { ...SCALED_RELEASE_OPTIONS, lossScaler: scaler });
  const run = { scales: [] as number[], skipped: [] as number[], last: [] as boolean[] };
  let readSyncs = 0;
  let tensors = 0;
  for (let t = 0; t < SCALED_RELEASE_ITERATIONS; t++) {
    // The scale the device unscales by, current once the previous iteration is read back.
    await opt.settled();
    const scale = scaler.scale;
    const grads = vars.map((_, i) => tf.tensor1d(coefficients(t, i).map((c) => c * scale)));
    const readSync = t > 0 ? vi.spyOn(tf.backend(), 'readSync') : undefined;
    for (const i of [2, 1, 0]) opt.stepParam(vars[i] as tf.Variable, grads[i] as tf.Tensor);
    opt.applyGradients({});
    readSyncs += readSync?.mock.calls.length ?? 0;
    readSync?.mockRestore();
    tf.dispose(grads);
    await opt.settled();
    run.scales.push(scaler.scale);
    run.skipped.push(opt.skippedSteps);
    run.last.push(opt.lastStepSkipped);
    if (t === 0) tensors = tf.memory().numTensors;
  }
  const out = {
    ...run,
    params: await Promise.all(vars.map((v) => v.data())),
    state: await opt.stateDict(),
    iterations: opt.iterations,
    readSyncs,
    addedTensors: tf.memory().numTensors - tensors,
  };
  opt.dispose();
  tf.dispose(vars);
  return out;
}

/** `scaledReleaseRun` by core's float32 reference and `DynamicLossScaler`: clean calls step, each iteration updates the scaler. */
function scaledReleaseReference() {
  const reference = new ReferenceStableAdamW(
    SCALED_RELEASE_SIZES.map((n, i) => values(n, i + 31, 1)),
    [{ params: SCALED_RELEASE_SIZES.map((_, i) => i), hyperparameters: resolveOptions(SCALED_RELEASE_OPTIONS) }],
    'float32',
  );
  const scaler = new DynamicLossScaler(SCALED_RELEASE_SCALER);
  const run = { scales: [] as number[], skipped: [] as number[], last: [] as boolean[], losses: [] as number[] };
  let skipped = 0;
  for (let t = 0; t < SCALED_RELEASE_ITERATIONS; t++) {
    let loss = 0;
    let overflow = false;
    SCALED_RELEASE_SIZES.forEach((_, i) => {
      const c = coefficients(t, i);
      const p = reference.params[i] as ArrayLike<number>;
      for (let j = 0; j < c.length; j++) loss += (p[j] as number) * (c[j] as number);
      if (c.every(Number.isFinite)) reference.stepParam(i, c);
      else {
        skipped += 1;
        overflow = true;
      }
    });
    scaler.update(overflow);
    run.losses.push(loss);
    run.scales.push(scaler.scale);
    run.skipped.push(skipped);
    run.last.push(overflow);
  }
  return { reference, ...run };
}

/**
 * Gradient release with a loss scaler, through `minimize` and through direct `stepParam` calls
 * ended by `applyGradients({})` (inside a `describe`): synchronous readbacks per call.
 */
export function releaseScalerCases(backend: string, readSyncsPerCall: number): void {
  it('direct stepParam calls with a loss scaler, each iteration ended by applyGradients({}): as core’s reference', async () => {
    const run = await directScaledReleaseRun(backend);
    const expected = scaledReleaseReference();
    expect(run.scales).toEqual(expected.scales);
    expect(run.skipped).toEqual(expected.skipped);
    expect(run.last).toEqual(expected.last);
    expect(excess(run.params, expected.reference.params)).toBeLessThanOrEqual(0);
    expect(Object.values(run.state.state).map((s) => s.step)).toEqual(expected.reference.paramSteps);
    expect(run.state.param_groups.map((g) => g.step)).toEqual([SCALED_RELEASE_ITERATIONS]);
    expect(run.iterations).toBe(SCALED_RELEASE_ITERATIONS);
    expect([run.state.skipped_steps, run.state.loss_scaler?.scale]).toEqual([expected.skipped.at(-1), 1024]);
    // The iteration's closing step reads nothing back.
    expect(run.readSyncs).toBe(readSyncsPerCall * (SCALED_RELEASE_ITERATIONS - 1) * SCALED_RELEASE_SIZES.length);
    expect(run.addedTensors).toBe(0);
  });

  it('gradient release with a loss scaler: the scale backs off on a skipped call and grows after clean iterations, as core’s reference', async () => {
    const run = await scaledReleaseRun(backend);
    const expected = scaledReleaseReference();
    // Backoff at iterations 2, 5 and 9; growth after every 2 clean iterations (1, 4, 7).
    expect(expected.scales).toEqual([1024, 2048, 1024, 1024, 2048, 1024, 1024, 2048, 2048, 1024]);
    expect(run.scales).toEqual(expected.scales);
    expect(run.skipped).toEqual(expected.skipped);
    expect(run.last).toEqual(expected.last);
    // The returned cost is the unscaled loss (NaN/±Inf where a coefficient is).
    expect(run.losses.map(Number.isFinite)).toEqual(expected.losses.map(Number.isFinite));
    expect(excess([run.losses.filter(Number.isFinite)], [expected.losses.filter(Number.isFinite)])).toBeLessThanOrEqual(0);
    expect(excess(run.params, expected.reference.params)).toBeLessThanOrEqual(0);
    expect(Object.values(run.state.state).map((s) => s.step)).toEqual(expected.reference.paramSteps);
    // One step() per iteration ends it: the group step and iterations count iterations.
    expect(run.state.param_groups.map((g) => g.step)).toEqual([SCALED_RELEASE_ITERATIONS]);
    expect(run.iterations).toBe(SCALED_RELEASE_ITERATIONS);
    expect([run.state.skipped_steps, run.state.loss_scaler?.scale]).toEqual([expected.skipped.at(-1), 1024]);
    const calls = (SCALED_RELEASE_ITERATIONS - 1) * SCALED_RELEASE_SIZES.length;
    expect(run.readSyncs).toBe(readSyncsPerCall * calls);
    expect(run.addedTensors).toBe(0);
  });
}
