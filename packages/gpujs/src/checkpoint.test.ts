import { referenceTolerances } from '@stable-adamw/conformance';
import { type CheckpointLayout, StateDictError } from '@stable-adamw/core';
import { readSafetensors, type SafetensorsTensor, writeSafetensors } from '@stable-adamw/core/adapter';
import { GPU } from 'gpu.js';
import { describe, expect, it } from 'vitest';
import type { GpuJsParam } from './param.js';
import { StableAdamW } from './stable-adamw.js';

const LR = 1e-2;
const INIT = { a: [0.5, -1, 2, 0.25], b: [0.1, -0.3] };
const grads = (t: number) => ({ a: [0.2, -0.1 * t, 0.05, 0.3], b: [0.01 * t, -0.4] });

type Mode = 'cpu' | 'webasm';

/** Named params `a` (2×2) and `b`, in that order or reversed. */
function makeParams(values: { a: ArrayLike<number>; b: ArrayLike<number> }, reversed = false): GpuJsParam[] {
  const a: GpuJsParam = { data: Float32Array.from(values.a), shape: [2, 2], name: 'a' };
  const b: GpuJsParam = { data: Float32Array.from(values.b), name: 'b' };
  return reversed ? [b, a] : [a, b];
}

async function step(opt: StableAdamW, params: GpuJsParam[], t: number): Promise<void> {
  const g = grads(t);
  for (const p of params) p.grad = Float32Array.from(p.name === 'a' ? g.a : g.b);
  await opt.step();
}

/**
 * Steps `a` and `b` six times; with `resumeAt`, saves a checkpoint there, reads the params back,
 * disposes the optimizer and resumes in a new one whose params come in the other order.
 */
async function train(mode: Mode, layout?: CheckpointLayout, resumeAt?: number): Promise<Float32Array[]> {
  const gpu = new GPU({ mode });
  let params = makeParams(INIT);
  let opt = new StableAdamW(params, { gpu, lr: LR, weightDecay: 0.1 });
  for (let t = 0; t < 6; t++) {
    if (t === resumeAt && layout) {
      const bytes = await opt.saveCheckpoint({ layout });
      const [a, b] = (await opt.readParams()) as [Float32Array, Float32Array];
      await opt.dispose();
      params = makeParams({ a, b }, true);
      opt = new StableAdamW(params, { gpu, lr: LR, weightDecay: 0.1 });
      await opt.loadCheckpoint(bytes, { layout });
    }
    await step(opt, params, t);
  }
  const byName = new Map(params.map((p) => [p.name, p]));
  const out = await Promise.all(['a', 'b'].map((name) => opt.readParam(byName.get(name) as GpuJsParam)));
  await opt.dispose();
  await gpu.destroy();
  return out;
}

/** A checkpoint with one tensor replaced. */
function withTensor(bytes: Uint8Array, name: string, tensor: SafetensorsTensor): Uint8Array {
  const file = readSafetensors(bytes);
  file.tensors.set(name, tensor);
  return writeSafetensors(file.tensors, file.metadata);
}

/** Each bad file made from a good one and one saved in the other layout. */
const badFiles: [string, (good: Uint8Array, other: Uint8Array) => Uint8Array][] = [
  ['truncated', (good) => good.subarray(0, good.length - 5)],
  ['a header cut short', (good) => good.subarray(0, 20)],
  [
    'a moment of the wrong dtype (I64)',
    (good) => withTensor(good, 'state.0.exp_avg', { dtype: 'I64', shape: [2, 2], data: new BigInt64Array(4) }),
  ],
  [
    'a moment of the wrong shape (3 elements for a 2×2 param)',
    (good) => withTensor(good, 'state.0.exp_avg_sq', { dtype: 'F32', shape: [3], data: new Float32Array(3) }),
  ],
  ['saved in the other layout', (_, other) => other],
];

describe.each(['cpu', 'webasm'] as const)('gpujs %s saveCheckpoint / loadCheckpoint', (mode) => {
  it("resumes from optimi's layout by param name, bit for bit with an uninterrupted run (float32 moments stored as they are)", async () => {
    expect(await train(mode, 'optimi', 3)).toEqual(await train(mode));
  });

  it("resumes from torch AdamW's layout by param name, within float32 tolerance of an uninterrupted run", async () => {
    const [uninterrupted, resumed] = [await train(mode), await train(mode, 'torch-adamw', 3)];
    // Moments biased by (1 − β^t) and back, rounded to float32 in between: optimi's fp32 tolerance.
    const { atol, rtol } = referenceTolerances('float32', LR).params as { atol: number; rtol: number };
    resumed.forEach((values, i) => {
      values.forEach((x, j) => {
        const expected = (uninterrupted[i] as Float32Array)[j] as number;
        expect(Math.abs(x - expected)).toBeLessThanOrEqual(atol + rtol * Math.abs(expected));
      });
    });
  });

  describe.each(['optimi', 'torch-adamw'] as const)(
    "refuses a bad '%s' file with a StateDictError, loading nothing",
    (layout) => {
      it.each(badFiles)('%s', async (_, corrupt) => {
        const gpu = new GPU({ mode });
        const params = makeParams(INIT);
        const opt = new StableAdamW(params, { gpu, lr: LR, weightDecay: 0.1 });
        await step(opt, params, 0);
        await step(opt, params, 1);
        const good = await opt.saveCheckpoint({ layout });
        const other = await opt.saveCheckpoint({ layout: layout === 'optimi' ? 'torch-adamw' : 'optimi' });
        await step(opt, params, 2); // the optimizer moves on, so a load would show
        const before = JSON.stringify({ state: await opt.stateDict(), params: await opt.readParams() });
        expect(() => opt.loadCheckpoint(corrupt(good, other), { layout })).toThrow(StateDictError);
        expect(JSON.stringify({ state: await opt.stateDict(), params: await opt.readParams() })).toBe(before);
        expect(opt.paramGroups[0]?.step).toBe(3);
        await opt.dispose();
        await gpu.destroy();
      });
    },
  );
});
