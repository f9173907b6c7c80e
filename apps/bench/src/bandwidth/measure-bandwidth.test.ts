import { describe, expect, it } from 'vitest';
import { measureBandwidth, streamBytesPerElement, triadBound } from './measure-bandwidth.js';

describe('measureBandwidth', () => {
  it('measures copy and triad in JS and WASM on 1 and 2 threads', async () => {
    const results = await measureBandwidth({ floats: 1 << 16, reps: 1, threadCounts: [1, 2] });
    expect(results.map((r) => `${r.op}/${r.threads}`)).toEqual([
      'js-copy/1',
      'js-triad/1',
      'wasm-copy/1',
      'wasm-triad/1',
      'js-copy/2',
      'js-triad/2',
      'wasm-copy/2',
      'wasm-triad/2',
    ]);
    for (const r of results) expect(r.gbPerSec).toBeGreaterThan(0);
    expect(triadBound(results, 2)).toBe(
      Math.max(...results.filter((r) => r.threads === 2 && r.op.endsWith('triad')).map((r) => r.gbPerSec)),
    );
    expect(triadBound(results, 3)).toBeUndefined();
  });

  it('counts STREAM bytes: copy 2 × 4, triad 3 × 4', () => {
    expect(streamBytesPerElement('wasm-copy')).toBe(8);
    expect(streamBytesPerElement('js-triad')).toBe(12);
  });
});
