import { describe, expect, it } from 'vitest';
import { type BackendOutcome, recommend } from './recommend.js';

const CPU = { pkg: '@stable-adamw/cpu', install: 'npm i @stable-adamw/cpu' } as const;
const TFJS = { pkg: '@stable-adamw/tfjs', install: 'npm i @stable-adamw/tfjs @tensorflow/tfjs-core' } as const;
const GPUJS = { pkg: '@stable-adamw/gpujs', install: 'npm i @stable-adamw/gpujs gpu.js' } as const;
const pass = { passed: 2, total: 2 };

const outcome = (id: string, base: typeof CPU | typeof TFJS | typeof GPUJS, mps?: number, parity = pass): BackendOutcome => ({
  id,
  ...base,
  parity,
  ...(mps === undefined ? {} : { paramsPerSec: mps * 1e6 }),
});

describe('recommend', () => {
  it('picks the fastest passing backend and names the runner-up with the ratio', () => {
    const r = recommend([outcome('cpu-wasm', CPU, 100), outcome('tfjs-webgpu', TFJS, 300), outcome('gpujs-webgl2', GPUJS, 50)]);
    expect(r).toEqual({
      backend: 'tfjs-webgpu',
      pkg: '@stable-adamw/tfjs',
      install: 'npm i @stable-adamw/tfjs @tensorflow/tfjs-core',
      reason:
        'tfjs-webgpu passed parity (2/2) at 300 M params/s, the fastest that passed: 3.0× the next, cpu-wasm (100 M params/s).',
    });
  });

  it('leaves out a faster backend that failed parity, and says so', () => {
    const r = recommend([outcome('tfjs-webgl', TFJS, 500, { passed: 1, total: 2 }), outcome('cpu-wasm-4t', CPU, 200)]);
    expect(r?.backend).toBe('cpu-wasm-4t');
    expect(r?.reason).toBe(
      'cpu-wasm-4t passed parity (2/2) at 200 M params/s, the only backend that passed parity and completed the timed step. ' +
        'Faster but left out for failing parity: tfjs-webgl (1/2).',
    );
  });

  it('breaks a tie (within 10 %) toward the simpler package', () => {
    const r = recommend([outcome('gpujs-webgl2', GPUJS, 105), outcome('tfjs-webgl', TFJS, 100), outcome('cpu-wasm-2t', CPU, 96)]);
    expect(r?.backend).toBe('cpu-wasm-2t');
    expect(r?.reason).toBe(
      'cpu-wasm-2t passed parity (2/2) at 96.0 M params/s; within 10 % of gpujs-webgl2 (105 M params/s), tfjs-webgl (100 M params/s), ' +
        'a tie on a short run, and @stable-adamw/cpu is the simpler install.',
    );
  });

  it('in a tie within one package, takes the fastest', () => {
    const r = recommend([outcome('cpu-wasm', CPU, 95), outcome('cpu-wasm-2t', CPU, 100), outcome('tfjs-cpu', TFJS, 10)]);
    expect(r?.backend).toBe('cpu-wasm-2t');
    expect(r?.reason).toMatch(/within 10 % of cpu-wasm \(95.0 M params\/s\), a tie on a short run, and the fastest of them\.$/);
  });

  it('just outside the tie band, speed wins over the simpler package', () => {
    expect(recommend([outcome('tfjs-webgpu', TFJS, 100), outcome('cpu-wasm', CPU, 89.9)])?.backend).toBe('tfjs-webgpu');
  });

  it('recommends nothing when no backend both passed parity and completed the timed step', () => {
    expect(
      recommend([
        outcome('tfjs-webgl', TFJS, 100, { passed: 0, total: 1 }),
        outcome('cpu-js', CPU),
        outcome('gpujs-webgl2', GPUJS, 10, { passed: 0, total: 0 }),
      ]),
    ).toBeUndefined();
    expect(recommend([])).toBeUndefined();
  });
});
