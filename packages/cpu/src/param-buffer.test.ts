import { existsSync, readFileSync } from 'node:fs';
import { numberToBfloat16, numberToFloat16, StableAdamWError } from '@stable-adamw/core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { hasRelaxedSimd } from './kernels/wasm/kernel-module.js';
import { BLOCK_ELEMENTS } from './kernels/wasm/layout.js';
import { type BufferDtype, createParamBuffer, type ParamBuffer, type ParamSpec } from './param-buffer.js';
import { StableAdamW } from './stable-adamw.js';

const open: ParamBuffer[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((b) => b.dispose()));
});

async function buffer(specs: readonly ParamSpec[], options: Parameters<typeof createParamBuffer>[1]): Promise<ParamBuffer> {
  const b = await createParamBuffer(specs, options);
  open.push(b);
  return b;
}

/** Deterministic pseudo-random values in (−scale, scale). */
function noise(seed: number, n: number, scale: number): number[] {
  let s = seed;
  return Array.from({ length: n }, () => {
    s = (s * 16807) % 2147483647;
    return (s / 2147483647 - 0.5) * 2 * scale;
  });
}

// Several blocks with a short last one, odd tails for the SIMD loops, one-element tensors.
const SHAPES = [[2 * BLOCK_ELEMENTS + 13], [7], [3, 5], [BLOCK_ELEMENTS], [1]];
const specs = (): ParamSpec[] =>
  SHAPES.map((shape, i) => {
    const numel = shape.reduce((a, b) => a * b, 1);
    return { shape, name: `t${i}`, init: noise(i + 1, numel, 1) };
  });

/** Trains a buffer for a few steps with grads of very different scales, some params skipped. */
async function train(dtype: BufferDtype, threads: number, kernel: 'wasm' | 'js' = 'wasm') {
  const b = await buffer(specs(), { dtype, threads, kernel });
  const encode = { float32: (x: number) => x, bfloat16: numberToBfloat16, float16: numberToFloat16 }[dtype];
  const opt = new StableAdamW([{ params: b.params.slice(0, 3) }, { params: b.params.slice(3), lr: 3e-2, weightDecay: 0 }], {
    lr: 1e-2,
    weightDecay: 0.1,
  });
  for (let t = 0; t < 5; t++) {
    b.zeroGrads();
    b.params.forEach((param, i) => {
      const grad = b.gradOf(param);
      grad.set(noise(100 * t + i, grad.length, 10 ** (t - 2)).map(encode));
    });
    if (t === 2) (b.params[1] as { grad: null }).grad = null;
    await opt.step();
  }
  return { b, opt };
}

const bytes = (b: ParamBuffer) =>
  b.params.map((p) => Array.from(new Uint8Array(p.data.buffer, p.data.byteOffset, p.data.byteLength)));

describe('ParamBuffer threads', () => {
  for (const dtype of ['float32', 'bfloat16', 'float16'] as const) {
    it(`${dtype}: 1, 2 and 3 threads give bit-identical params and state`, async () => {
      const runs = await Promise.all([1, 2, 3].map((threads) => train(dtype, threads)));
      const [one, ...others] = runs.map(({ b, opt }) => ({ params: bytes(b), state: opt.stateDict() }));
      expect(runs.map((r) => r.b.threads)).toEqual([1, 2, 3]);
      for (const other of others) {
        expect(other.params).toEqual(one?.params);
        expect(other.state).toEqual(one?.state);
      }
    });
  }

  it('agrees with the typed-array kernels over multi-block tensors (float32)', async () => {
    const wasm = await train('float32', 2);
    const js = await train('float32', 1, 'js');
    expect(wasm.b.kernel).toBe('wasm-simd');
    // The build that ran is the one the engine's relaxed-SIMD support picks.
    expect(wasm.b.kernelModule).toBe(hasRelaxedSimd() ? 'wasm-relaxed-simd' : 'wasm-simd');
    expect(js.b.kernel).toBe('js');
    expect(js.b.kernelModule).toBeUndefined();
    wasm.b.params.forEach((p, i) => {
      const expected = js.b.params[i]?.data as Float32Array;
      p.data.forEach((x, j) => {
        expect(Math.abs(x - (expected[j] as number))).toBeLessThanOrEqual(1e-6 + 1e-5 * Math.abs(expected[j] as number));
      });
    });
  });

  it('rejects a step while a threaded one runs, and steps again once it is awaited', async () => {
    const b = await buffer([{ shape: [100] }], { threads: 2 });
    const opt = new StableAdamW(b.params, { lr: 1e-2 });
    const first = opt.step();
    expect(first).toBeInstanceOf(Promise);
    expect(() => opt.step()).toThrow(/still being stepped by worker threads/);
    expect(opt.paramGroups[0]?.step).toBe(1);
    await first;
    b.zeroGrads();
    await opt.step();
    expect(opt.paramGroups[0]?.step).toBe(2);
  });

  it.runIf(existsSync('/proc/self/status'))('dispose() ends every worker thread', async () => {
    const osThreads = () => Number(/Threads:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]);
    const before = osThreads();
    const b = await createParamBuffer([{ shape: [10] }], { threads: 3 });
    expect(osThreads()).toBe(before + 3);
    await b.dispose();
    expect(osThreads()).toBe(before);
    expect(b.disposed).toBe(true);
  });
});

describe('ParamBuffer fused one-block tensors', () => {
  for (const dtype of ['float32', 'bfloat16', 'float16'] as const) {
    it(`${dtype}: step() (phase 2 fused into phase 1) equals stepping each param alone, bit for bit`, async () => {
      const encode = { float32: (x: number) => x, bfloat16: numberToBfloat16, float16: numberToFloat16 }[dtype];
      const options = { lr: 1e-2, weightDecay: 0.1, gradientRelease: true };
      const batched = await buffer(specs(), { dtype });
      const alone = await buffer(specs(), { dtype });
      const batchedOpt = new StableAdamW(batched.params, options);
      const aloneOpt = new StableAdamW(alone.params, options);
      for (let t = 0; t < 4; t++) {
        for (const b of [batched, alone]) {
          b.zeroGrads();
          b.params.forEach((param, i) => {
            const grad = b.gradOf(param);
            grad.set(noise(10 * t + i, grad.length, 10 ** (t - 2)).map(encode));
            // A NaN sum must skip the clip on both paths; inf gradients saturate v.
            if (t === 1) grad.set([Number.NaN, Number.POSITIVE_INFINITY].map(encode).slice(0, grad.length));
          });
        }
        batchedOpt.step();
        for (const param of alone.params) aloneOpt.stepParam(param, alone.gradOf(param));
      }
      expect(bytes(batched)).toEqual(bytes(alone));
      const state = (sd: ReturnType<typeof batchedOpt.stateDict>) => Object.values(sd.state).map(({ step: _, ...rest }) => rest);
      expect(state(batchedOpt.stateDict())).toEqual(state(aloneOpt.stateDict()));
    });
  }
});

describe('ParamBuffer params', () => {
  it('steps a param whose grad is another array with the typed-array kernels', async () => {
    const values = noise(7, 1000, 0.1);
    const viaView = await buffer([{ shape: [1000] }], {});
    const viaArray = await buffer([{ shape: [1000] }], {});
    viaView.grads.set(values);
    const param = viaArray.params[0] as { grad: Float32Array | null };
    param.grad = Float32Array.from(values);
    new StableAdamW(viaView.params, { lr: 1e-2 }).step();
    new StableAdamW(viaArray.params, { lr: 1e-2 }).step();
    const a = viaView.params[0]?.data as Float32Array;
    const b = viaArray.params[0]?.data as Float32Array;
    expect(b.some((x) => x !== 0)).toBe(true);
    b.forEach((x, i) => {
      expect(Math.abs(x - (a[i] as number))).toBeLessThanOrEqual(1e-6 + 1e-5 * Math.abs(a[i] as number));
    });
  });

  it("step(grads) with the buffer's own gradient views equals step() with .grad, bit for bit", async () => {
    const viaGrad = await train('bfloat16', 1);
    const viaMap = await train('bfloat16', 1);
    for (const { b } of [viaGrad, viaMap]) {
      b.zeroGrads();
      b.params.forEach((param, i) => {
        b.gradOf(param).set(noise(7 + i, param.data.length, 0.1).map(numberToBfloat16));
      });
    }
    viaGrad.opt.step();
    // Passed in, the views still run the WebAssembly kernel; .grad (detached here) is not read.
    viaMap.opt.zeroGrad();
    viaMap.opt.step(new Map(viaMap.b.params.map((p) => [p, viaMap.b.gradOf(p)])));
    expect(bytes(viaMap.b)).toEqual(bytes(viaGrad.b));
    expect(viaMap.opt.stateDict()).toEqual(viaGrad.opt.stateDict());
  });

  it('zeroGrad() detaches gradient views and zeroGrads() zeroes and attaches them', async () => {
    const b = await buffer([{ shape: [3] }, { shape: [5] }], {});
    const opt = new StableAdamW(b.params, { lr: 1e-2 });
    b.grads.fill(1);
    opt.zeroGrad();
    expect(b.params.map((p) => p.grad)).toEqual([null, null]);
    b.zeroGrads();
    expect(b.params.map((p) => p.grad === b.gradOf(p))).toEqual([true, true]);
    expect(Array.from(b.grads).every((x) => x === 0)).toBe(true);
  });

  it('stores bfloat16 initial values rounded to nearest even', async () => {
    const b = await buffer([{ shape: [2], init: [1 + 2 ** -8, 1 + 3 * 2 ** -8] }], { dtype: 'bfloat16' });
    expect(Array.from(b.params[0]?.data ?? [])).toEqual([numberToBfloat16(1), numberToBfloat16(1 + 2 ** -6)]);
  });

  it('loads a state dict into the buffer and continues like the original', async () => {
    const { b, opt } = await train('float32', 1);
    const saved = JSON.parse(JSON.stringify(opt.stateDict()));
    const copy = await buffer(
      b.params.map((p) => ({ shape: p.shape, init: p.data })),
      {},
    );
    const resumed = new StableAdamW([{ params: copy.params.slice(0, 3) }, { params: copy.params.slice(3) }], { lr: 1 });
    resumed.loadStateDict(saved);
    for (const target of [b, copy]) {
      target.zeroGrads();
      target.grads.fill(0.5);
    }
    opt.step();
    resumed.step();
    expect(bytes(copy)).toEqual(bytes(b));
  });
});

describe('ParamBuffer errors', () => {
  const rejects = async (promise: Promise<unknown>, code: string, message: RegExp) => {
    const error = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(StableAdamWError.isInstance(error) && error.code).toBe(code);
    expect((error as Error).message).toMatch(message);
  };

  it.each<[string, ParamSpec[], object, RegExp]>([
    ['no specs', [], {}, /`specs` is not a non-empty array/],
    ['a zero dimension', [{ shape: [3, 0] }], {}, /`specs\[0\]\.shape` is \[3,0\]\. Give an array of positive integer/],
    ['a wrong init length', [{ shape: [2, 2], init: [1, 2, 3] }], {}, /`specs\[0\]\.init` has 3 values but shape \[2, 2\] has 4/],
    ['a bad dtype', [{ shape: [1] }], { dtype: 'float64' }, /`options\.dtype` is "float64"/],
    ['zero threads', [{ shape: [1] }], { threads: 0 }, /`options\.threads` is 0\. Use a positive integer/],
    ['a bad kernel', [{ shape: [1] }], { kernel: 'gpu' }, /`options\.kernel` is "gpu"/],
  ])('createParamBuffer rejects %s', (_, badSpecs, options, message) =>
    rejects(createParamBuffer(badSpecs, options), 'invalid_param', message),
  );

  it('refuses threads on a page that is not cross-origin isolated', async () => {
    vi.stubGlobal('crossOriginIsolated', false);
    try {
      await rejects(createParamBuffer([{ shape: [1] }], { threads: 2 }), 'unsupported_backend', /cross-origin isolated/);
    } finally {
      vi.unstubAllGlobals();
    }
  });

  it('refuses threads without the WebAssembly kernel', () =>
    rejects(createParamBuffer([{ shape: [1] }], { threads: 2, kernel: 'js' }), 'unsupported_backend', /threads: 1/));

  it('refuses a second optimizer over the same params, leaving the first one intact', async () => {
    const b = await buffer([{ shape: [4], name: 'w' }], {});
    const first = new StableAdamW(b.params, { lr: 1e-2 });
    b.grads.fill(1);
    first.step();
    const before = first.stateDict();
    const second = new StableAdamW(b.params, { lr: 1e-2 });
    expect(() => second.step()).toThrow(/`specs\[0\] \(w\)` already holds the optimizer state of another optimizer/);
    expect(second.paramGroups[0]?.step).toBe(0);
    expect(first.stateDict()).toEqual(before);
    first.dispose();
    second.step();
    expect(second.paramGroups[0]?.step).toBe(1);
  });

  it('refuses to step params of a disposed buffer', async () => {
    const b = await createParamBuffer([{ shape: [4] }], {});
    const opt = new StableAdamW(b.params, { lr: 1e-2 });
    b.grads.fill(1);
    opt.step();
    const before = { data: Array.from(b.params[0]?.data ?? []), state: opt.stateDict() };
    await b.dispose();
    expect(() => opt.step()).toThrow(/lives in a disposed ParamBuffer/);
    expect({ data: Array.from(b.params[0]?.data ?? []), state: opt.stateDict() }).toEqual(before);
  });

  it('gradOf refuses a param of another buffer', async () => {
    const a = await buffer([{ shape: [1] }], {});
    const b = await buffer([{ shape: [1] }], {});
    expect(() => a.gradOf(b.params[0] as (typeof b.params)[0])).toThrow(/does not belong to this ParamBuffer/);
  });
});
