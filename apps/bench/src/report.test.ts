import { describe, expect, it } from 'vitest';
import type { BandwidthResult } from './bandwidth/measure-bandwidth.js';
import { cpuTargets, deriveRows, NATIVE_GOALS, ratioTarget } from './report.js';
import type { BenchRow } from './row.js';

const bandwidth: BandwidthResult[] = [
  { op: 'js-axpy', threads: 1, gbPerSec: 30, bytesPerElement: 12 },
  { op: 'wasm-axpy', threads: 1, gbPerSec: 36, bytesPerElement: 12 },
  { op: 'wasm-triad', threads: 1, gbPerSec: 99, bytesPerElement: 12 },
  { op: 'wasm-axpy', threads: 2, gbPerSec: 72, bytesPerElement: 12 },
];

function row(subject: string, shape: BenchRow['shape'], medianMs: number, extra: Partial<BenchRow> = {}): BenchRow {
  return {
    subject,
    backend: 'cpu',
    implementation: 'test',
    algorithm: 'stable-adamw',
    environment: 'node',
    threads: 1,
    shape,
    dtype: 'float32',
    params: 1e6,
    tensors: 4,
    status: 'ok',
    timing: { medianMs, q1Ms: medianMs, q3Ms: medianMs, minMs: medianMs, maxMs: medianMs, steps: 10 },
    ...extra,
  };
}

describe('deriveRows', () => {
  it('bound = best axpy at the row thread count ÷ bytes per param, fraction and ratio to scalar-js', () => {
    const [scalar, fast, threaded, bf16, adam] = deriveRows(
      [
        row('scalar-js', 'large', 4),
        row('cpu-js', 'large', 2),
        row('cpu-wasm-2t', 'large', 1, { threads: 2 }),
        row('cpu-js', 'large', 2, { dtype: 'bfloat16' }),
        row('tfjs-cpu-adam', 'large', 2, { algorithm: 'adam' }),
      ],
      bandwidth,
    );
    // 36 GB/s (the better axpy; triad is not the bound) ÷ 36 B = 1e9 params/s.
    expect(fast?.boundGBps).toBe(36);
    expect(fast?.boundParamsPerSec).toBeCloseTo(1e9);
    // 1e6 params in 2 ms = 5e8 params/s: half the bound, twice scalar-js.
    expect(fast?.paramsPerSec).toBeCloseTo(5e8);
    expect(fast?.fractionOfBound).toBeCloseTo(0.5);
    expect(fast?.vsScalar).toBeCloseTo(2);
    expect(scalar?.vsScalar).toBe(1);
    // Two threads: 72 GB/s ÷ 36 B = 2e9; 1e9 params/s is half of it.
    expect(threaded?.fractionOfBound).toBeCloseTo(0.5);
    // bf16 with Kahan: 36 GB/s ÷ 22 B.
    expect(bf16?.bytesPerParam).toBe(22);
    expect(bf16?.boundParamsPerSec).toBeCloseTo(36e9 / 22);
    expect(adam?.bytesPerParam).toBe(28);
    // Rows with no GPU to count carry dispatchesPerStep: null; counted ones keep their figures.
    expect(fast?.dispatchesPerStep).toBeNull();
  });

  it('keeps the dispatch count of GPU rows', () => {
    const [gpu] = deriveRows(
      [row('tfjs-webgpu', 'small', 2, { dispatchUnit: 'webgpu-dispatch', dispatchesPerStep: 3, submitsPerStep: 1 })],
      bandwidth,
    );
    expect(gpu).toMatchObject({ dispatchUnit: 'webgpu-dispatch', dispatchesPerStep: 3, submitsPerStep: 1 });
  });

  it('leaves skipped rows without figures and compares only within an environment', () => {
    const [skipped, browser] = deriveRows(
      [
        { ...row('tfjs-cpu', 'target', 1), status: 'skipped', reason: 'too big', timing: undefined },
        row('cpu-js', 'small', 1, { environment: 'chromium' }),
        row('scalar-js', 'small', 3),
      ],
      bandwidth,
    );
    expect(skipped?.paramsPerSec).toBeUndefined();
    expect(skipped?.bytesPerParam).toBe(36);
    expect(browser?.vsScalar).toBeUndefined();
  });
});

describe('cpuTargets', () => {
  it('checks 1 thread ≥ 1.45×, 2 threads ≥ 2.8× on target, small within 1.5× of large per param', () => {
    const rows = deriveRows(
      [
        row('scalar-js', 'target', 300, { params: 64e6 }),
        row('cpu-js', 'target', 250, { params: 64e6 }),
        row('cpu-wasm', 'target', 200, { params: 64e6 }),
        row('cpu-wasm', 'large', 50, { params: 16e6 }),
        row('cpu-wasm', 'small', 20, { params: 4e6 }),
      ],
      bandwidth,
    );
    const [one, two, small] = cpuTargets(rows);
    // The WASM kernel is preferred over the JS one: 300 / 200 = 1.5×.
    expect(one).toMatchObject({ subject: 'cpu-wasm', value: 1.5, met: true, goal: 1.45 });
    expect(one?.fractionOfBound).toBeCloseTo(64e6 / 0.2 / 1e9);
    expect(two).toEqual({ label: expect.any(String), goal: 2.8, comparison: '>=', result: 'not measured' });
    // 20 ms / 4M vs 50 ms / 16M: 5 vs 3.125 ns per param = 1.6, over 1.5.
    expect(small).toMatchObject({ subject: 'cpu-wasm', met: false, result: 'not met' });
    expect(small?.value).toBeCloseTo(1.6);
    expect(one?.result).toBe('met');
  });

  it('with --quick shows the values but judges no goal: "not measured (quick)"', () => {
    const rows = deriveRows(
      [
        row('scalar-js', 'target', 3, { params: 256e3 }),
        row('cpu-wasm', 'target', 3, { params: 256e3 }),
        row('cpu-wasm', 'large', 1, { params: 64e3 }),
        row('cpu-wasm', 'small', 1, { params: 16e3 }),
      ],
      bandwidth,
    );
    const [one, two, small] = cpuTargets(rows, { quick: true });
    expect(one).toMatchObject({ subject: 'cpu-wasm', value: 1, result: 'not measured (quick)' });
    expect(one?.met).toBeUndefined();
    expect(small?.result).toBe('not measured (quick)');
    // A goal whose row did not run is simply not measured.
    expect(two?.result).toBe('not measured');
  });
});

describe('issue #17 goals: ratios to rows of the same run', () => {
  const M64 = { params: 64e6 };
  it('cpu-wasm ÷ native-c-128 on the 64M shape, with both fractions of the bound', () => {
    const rows = deriveRows(
      [
        row('cpu-wasm', 'target', 100, M64),
        row('native-c-128', 'target', 80, M64),
        row('cpu-wasm-2t', 'target', 60, { ...M64, threads: 2 }),
        row('native-c-128-2t', 'target', 50, { ...M64, threads: 2 }),
      ],
      bandwidth,
    );
    const [one, two] = NATIVE_GOALS.map((goal) => ratioTarget(rows, goal));
    // params/s ratio = 80 ms / 100 ms = 0.8, under 0.9.
    expect(one).toMatchObject({ subject: 'cpu-wasm', dtype: 'float32', goal: 0.9, met: false, result: 'not met' });
    expect(one?.value).toBeCloseTo(0.8);
    expect(one?.baseline?.subject).toBe('native-c-128');
    // 64e6 / 0.08 s ÷ (36e9 / 36) params/s.
    expect(one?.baseline?.fractionOfBound).toBeCloseTo(0.8);
    expect(one?.fractionOfBound).toBeCloseTo(0.64);
    // 50 / 60 = 0.833: two threads against two threads.
    expect(two).toMatchObject({ subject: 'cpu-wasm-2t', result: 'not met' });
    expect(two?.value).toBeCloseTo(50 / 60);
  });

  it('bf16 and f16 ÷ fp32 of the same subject on the llm shape; cpu-js ÷ scalar-js', () => {
    const rows = deriveRows(
      [
        row('cpu-wasm', 'llm', 10),
        row('cpu-wasm', 'llm', 8, { dtype: 'bfloat16' }),
        row('cpu-wasm', 'llm', 12.5, { dtype: 'float16' }),
        row('scalar-js', 'target', 300, M64),
        row('cpu-js', 'target', 250, M64),
        row('scalar-js', 'small', 10),
        row('cpu-js', 'small', 40, { dtype: 'bfloat16' }),
      ],
      bandwidth,
    );
    const byLabel = new Map(NATIVE_GOALS.map((goal) => [goal.label, ratioTarget(rows, goal)]));
    expect(byLabel.get('cpu-wasm bf16 vs fp32, llm, 1 thread')).toMatchObject({ value: 1.25, met: true, dtype: 'bfloat16' });
    expect(byLabel.get('cpu-wasm f16 vs fp32, llm, 1 thread')).toMatchObject({ value: 0.8, met: false });
    expect(byLabel.get('cpu-js fp32 vs scalar-js, 64M')).toMatchObject({ value: 1.2, met: true });
    // 10 / 40 = 0.25 < 0.3.
    expect(byLabel.get('cpu-js bf16 vs scalar-js fp32, small (4M)')).toMatchObject({ value: 0.25, met: false });
  });

  it('not measured names the missing row and its skip reason; --quick judges nothing', () => {
    const rows = deriveRows(
      [
        row('cpu-wasm', 'target', 100, M64),
        {
          ...row('native-c-128', 'target', 1, M64),
          status: 'skipped',
          reason: 'unavailable here: no C compiler',
          timing: undefined,
        },
        row('cpu-wasm', 'llm', 10),
        row('cpu-wasm', 'llm', 8, { dtype: 'bfloat16' }),
      ],
      bandwidth,
    );
    const [one, two, bf16] = NATIVE_GOALS.map((goal) => ratioTarget(rows, goal));
    expect(one).toEqual({
      label: 'cpu-wasm vs native-c-128, 64M fp32, 1 thread',
      goal: 0.9,
      comparison: '>=',
      result: 'not measured',
      reason: 'native-c-128 target float32: unavailable here: no C compiler',
    });
    expect(two?.reason).toBe('cpu-wasm-2t target float32 was not run; native-c-128-2t target float32 was not run');
    const quick = ratioTarget(rows, NATIVE_GOALS[2] as (typeof NATIVE_GOALS)[number], { quick: true });
    expect(bf16?.result).toBe('met');
    expect(quick).toMatchObject({ value: 1.25, result: 'not measured (quick)' });
    expect(quick.met).toBeUndefined();
  });
});
