import { describe, expect, it } from 'vitest';
import { bandwidthBound, bestOf, measureBandwidth, streamBytesPerElement } from './measure-bandwidth.js';

describe('measureBandwidth', () => {
  it('measures copy, triad and axpy in JS and WASM on 1 and 2 threads', async () => {
    const results = await measureBandwidth({ floats: 1 << 16, reps: 1, threadCounts: [1, 2] });
    expect(results.map((r) => `${r.op}/${r.threads}`)).toEqual([
      'js-copy/1',
      'js-triad/1',
      'js-axpy/1',
      'wasm-copy/1',
      'wasm-triad/1',
      'wasm-axpy/1',
      'js-copy/2',
      'js-triad/2',
      'js-axpy/2',
      'wasm-copy/2',
      'wasm-triad/2',
      'wasm-axpy/2',
    ]);
    for (const r of results) expect(r.gbPerSec).toBeGreaterThan(0);
    expect(bandwidthBound(results, 2)).toBe(
      Math.max(...results.filter((r) => r.threads === 2 && r.op.endsWith('axpy')).map((r) => r.gbPerSec)),
    );
    expect(bandwidthBound(results, 3)).toBeUndefined();
  });

  it('counts STREAM bytes: copy 2 × 4, triad and axpy 3 × 4', () => {
    expect(streamBytesPerElement('wasm-copy')).toBe(8);
    expect(streamBytesPerElement('js-triad')).toBe(12);
    expect(streamBytesPerElement('wasm-axpy')).toBe(12);
  });

  it('keeps the best figure per op and thread count over runs', () => {
    const a = { op: 'wasm-axpy' as const, threads: 1, gbPerSec: 10, bytesPerElement: 12 };
    const merged = bestOf(
      [a, { ...a, threads: 2, gbPerSec: 30 }],
      [
        { ...a, gbPerSec: 12 },
        { ...a, threads: 2, gbPerSec: 20 },
      ],
    );
    expect(merged.map((r) => `${r.threads}:${r.gbPerSec}`)).toEqual(['1:12', '2:30']);
  });
});
