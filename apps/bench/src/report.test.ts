import { describe, expect, it } from 'vitest';
import type { BandwidthResult } from './bandwidth/measure-bandwidth.js';
import { cpuTargets, deriveRows } from './report.js';
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
