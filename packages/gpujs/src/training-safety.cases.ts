import { compareValues, referenceTolerances, withinTolerance } from '@stable-adamw/conformance';
import { DynamicLossScaler, NonFiniteGradientError, type StableAdamWOptions, type StateDict } from '@stable-adamw/core';
import { ReferenceStableAdamW, resolveOptions } from '@stable-adamw/core/adapter';
import { GPU } from 'gpu.js';
import { expect } from 'vitest';
import { createGpujsBackend } from './backend.js';
import type { GpuJsParam } from './param.js';
import { StableAdamW } from './stable-adamw.js';
import type { GpuJsTensor } from './tensor.js';
import { uploader } from './testing/uploader.js';

// Training-safety cases run in Node (cpu, webasm: host gradients, scanned on the host) and in
// Chromium (webgl2, webgpu: gradients as textures or buffers, counted on the device). Each compares
// against the float64 reference of a run that never saw the non-finite steps.

/** How gradients reach the optimizer: host Float32Arrays, or device tensors of the caller's own kernel. */
export type Inputs = 'array' | 'texture';
type Mode = 'cpu' | 'webasm' | 'webgl2' | 'webgl' | 'webgpu';

const OPTIONS = { lr: 0.01, weightDecay: 0.01 };
const SIZES = [5, 300];
const NAMES = ['a', 'b'];

/** Deterministic values in about [-1, 1) that differ per element and per seed. */
function values(n: number, seed: number): number[] {
  return Array.from({ length: n }, (_, i) => Math.sin(seed * 12.9898 + i * 78.233) * 0.9 + 0.05 * seed);
}

/** A gpu.js instance and an upload kernel of the caller's own, as a model's backward pass would make gradients. */
async function withGpu<T>(
  mode: Mode,
  inputs: Inputs,
  run: (gpu: GPU, tensor: (v: number[]) => Promise<GpuJsTensor>) => Promise<T>,
) {
  const gpu = new GPU({ mode });
  const { upload, destroy } = uploader(gpu);
  const tensor = async (host: number[]): Promise<GpuJsTensor> =>
    inputs === 'array' ? Float32Array.from(host) : upload(Float32Array.from(host));
  try {
    return await run(gpu, tensor);
  } finally {
    destroy();
    await gpu.destroy();
  }
}

/** Everything a skipped or refused step must leave as it was. */
async function snapshot(opt: StableAdamW): Promise<{ params: number[][]; state: StateDict; steps: number[] }> {
  const params = (await opt.readParams()).map((p) => Array.from(p));
  return { params, state: await opt.stateDict(), steps: opt.paramGroups.map((g) => g.step) };
}

async function expectReference(opt: StableAdamW, reference: ReferenceStableAdamW): Promise<void> {
  const tolerance = referenceTolerances('float32', OPTIONS.lr).params;
  const params = await opt.readParams();
  params.forEach((p, i) => {
    const report = compareValues(Float64Array.from(p), reference.params[i] as Float64Array, tolerance, 'float32');
    expect(withinTolerance(report, tolerance), `param ${NAMES[i]}: ${JSON.stringify(report)}`).toBe(true);
  });
}

function setup(gpu: GPU, options: StableAdamWOptions) {
  const params: GpuJsParam[] = SIZES.map((n, i) => ({ data: Float32Array.from(values(n, i + 1)), name: NAMES[i] as string }));
  const opt = new StableAdamW(params, { ...options, gpu });
  const reference = new ReferenceStableAdamW(
    SIZES.map((n, i) => values(n, i + 1)),
    [{ params: [0, 1], hyperparameters: resolveOptions(options) }],
    'float32',
  );
  return { params, opt, reference };
}

/** Clean gradients of step `t`, of every param. */
const cleanGrads = (t: number) => SIZES.map((n, i) => values(n, 10 * t + i + 3));

/** Readbacks a step with a non-finite check costs: one table for device gradients, none for host ones. */
const checkReadbacks = (inputs: Inputs) => (inputs === 'texture' ? 1 : 0);

/** Modes whose device decides 'skip' and keeps the counters until `settled()`. */
const skipsOnDevice = (mode: Mode) => mode === 'webgl2' || mode === 'webgpu';

/** The non-finite steps: which param, which element, which value. */
const POISON: Record<number, [param: number, at: number, bad: number]> = {
  2: [1, 0, Number.NaN],
  4: [0, 4, Number.POSITIVE_INFINITY],
  6: [1, 299, Number.NEGATIVE_INFINITY],
  7: [1, 150, Number.NaN],
};

async function stepWith(
  opt: StableAdamW,
  params: GpuJsParam[],
  grads: number[][],
  tensor: (v: number[]) => Promise<GpuJsTensor>,
) {
  for (const [i, g] of grads.entries()) (params[i] as GpuJsParam).grad = await tensor(g);
  await opt.step();
}

/**
 * `nonFinite: 'skip'`: each poisoned step leaves params, moments and counters bit-identical,
 * counts in `skippedSteps` (after `settled()`), reads back nothing in the step where the device
 * decides (webgl2, webgpu) or the host scans (host gradients), else one table; the run then
 * follows the reference.
 */
export function checkSkip(mode: Mode, inputs: Inputs): Promise<void> {
  const device = skipsOnDevice(mode);
  return withGpu(mode, inputs, async (gpu, tensor) => {
    const { params, opt, reference } = setup(gpu, { ...OPTIONS, nonFinite: 'skip' });
    for (let t = 0; t < 10; t++) {
      const grads = cleanGrads(t);
      const poison = POISON[t];
      const readbacks = opt.stats.readbacks;
      if (poison) {
        const [i, at, bad] = poison;
        (grads[i] as number[])[at] = bad;
        const before = await snapshot(opt);
        const skipped = opt.skippedSteps;
        const beforeReadbacks = opt.stats.readbacks;
        await stepWith(opt, params, grads, tensor);
        expect(opt.stats.readbacks - beforeReadbacks).toBe(device ? 0 : checkReadbacks(inputs));
        await opt.settled();
        expect(opt.lastStepSkipped).toBe(true);
        expect(opt.skippedSteps).toBe(skipped + 1);
        expect(await snapshot(opt)).toEqual({ ...before, state: { ...before.state, skipped_steps: skipped + 1 } });
        continue;
      }
      await stepWith(opt, params, grads, tensor);
      expect(opt.stats.readbacks - readbacks).toBe(device ? 0 : checkReadbacks(inputs));
      await opt.settled();
      expect(opt.lastStepSkipped).toBe(false);
      reference.step(grads);
    }
    expect(opt.skippedSteps).toBe(Object.keys(POISON).length);
    expect((await opt.stateDict()).skipped_steps).toBe(Object.keys(POISON).length);
    await expectReference(opt, reference);
    await opt.dispose();
  });
}

/** `nonFinite: 'throw'`: a `NonFiniteGradientError` naming the param, nothing changed; then the reference. */
export function checkThrow(mode: Mode, inputs: Inputs): Promise<void> {
  return withGpu(mode, inputs, async (gpu, tensor) => {
    const { params, opt, reference } = setup(gpu, { ...OPTIONS, nonFinite: 'throw' });
    for (let t = 0; t < 8; t++) {
      const grads = cleanGrads(t);
      const poison = POISON[t];
      if (poison) {
        const [i, at, bad] = poison;
        (grads[i] as number[])[at] = bad;
        const before = await snapshot(opt);
        const error = await stepWith(opt, params, grads, tensor).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(NonFiniteGradientError.isInstance(error)).toBe(true);
        expect((error as NonFiniteGradientError).code).toBe('non_finite_gradient');
        expect((error as NonFiniteGradientError).parameters).toEqual([`paramGroups[0].params[${i}] (${NAMES[i]})`]);
        expect(opt.skippedSteps).toBe(0);
        expect(await snapshot(opt)).toEqual(before);
        continue;
      }
      await stepWith(opt, params, grads, tensor);
      reference.step(grads);
    }
    await expectReference(opt, reference);
    await opt.dispose();
  });
}

/** The default `'propagate'` checks nothing and reads nothing back. */
export function checkPropagateReadsNothing(mode: Mode, inputs: Inputs): Promise<void> {
  return withGpu(mode, inputs, async (gpu, tensor) => {
    const { params, opt } = setup(gpu, OPTIONS);
    await stepWith(opt, params, cleanGrads(0), tensor);
    expect(opt.stats.readbacks).toBe(0);
    await opt.dispose();
  });
}

/**
 * A `DynamicLossScaler` (scale 2^10, growth every 3 clean steps): gradients × scale, one
 * overflowing step skipped with the scale halved; the run equals the reference on the unscaled
 * gradients, and the scale follows 1024 ×2 after 3 clean steps, ×0.5 on the overflow.
 */
export function checkLossScaler(mode: Mode, inputs: Inputs): Promise<void> {
  return withGpu(mode, inputs, async (gpu, tensor) => {
    const lossScaler = new DynamicLossScaler({ initScale: 2 ** 10, growthInterval: 3 });
    const { params, opt, reference } = setup(gpu, { ...OPTIONS, lossScaler });
    const scales: number[] = [];
    for (let t = 0; t < 10; t++) {
      await opt.settled();
      const scale = lossScaler.scale;
      scales.push(scale);
      const grads = cleanGrads(t);
      const scaled = grads.map((g) => g.map((x) => x * scale));
      if (t === 4) (scaled[1] as number[])[7] = Number.POSITIVE_INFINITY;
      await stepWith(opt, params, scaled, tensor);
      await opt.settled();
      expect(opt.lastStepSkipped).toBe(t === 4);
      if (t !== 4) reference.step(grads);
      await expectReference(opt, reference);
    }
    expect(scales).toEqual([1024, 1024, 1024, 2048, 2048, 1024, 1024, 1024, 2048, 2048]);
    expect((await opt.stateDict()).loss_scaler?.scale).toBe(2048);
    await opt.dispose();
  });
}

/**
 * The backend's `findNonFinite` alone: NaN, +Inf and −Inf at the first, a middle and the last
 * element of tensors of 1 to 4100 elements (one to four reduction levels) are found, ±3.4028235e38
 * (the largest finite float32) and clean tensors are not; one readback for device gradients.
 */
export function checkFindNonFinite(mode: Mode, inputs: Inputs): Promise<void> {
  return withGpu(mode, inputs, async (gpu, tensor) => {
    const backend = createGpujsBackend({ gpu });
    const sizes = [1, 16, 17, 300, 4100];
    const max = 3.4028234663852886e38;
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      for (const where of ['first', 'middle', 'last'] as const) {
        // Tensors 1 and 3 are poisoned, the others hold the largest finite values.
        const grads = sizes.map((n, k) => {
          const g = values(n, k);
          g[0] = k % 2 === 0 ? max : -max;
          if (k % 2 === 1) g[where === 'first' ? 0 : where === 'last' ? n - 1 : n >> 1] = bad;
          return g;
        });
        const items = await Promise.all(
          grads.map(async (g, k) => ({
            param: { data: Float32Array.from(g) },
            grad: await tensor(g),
            info: { numel: g.length, dtype: 'float32' as const, shape: [g.length], name: `g${k}` },
          })),
        );
        const readbacks = backend.stats.readbacks;
        expect(await backend.findNonFinite?.(items), `${bad} at the ${where} element`).toEqual([1, 3]);
        expect(backend.stats.readbacks - readbacks).toBe(checkReadbacks(inputs));
        expect(await backend.findNonFinite?.([items[0], items[2], items[4]].map((x) => x as (typeof items)[0]))).toEqual([]);
      }
    }
    expect(backend.stats.liveTensors).toBe(0);
    await backend.destroy();
  });
}
