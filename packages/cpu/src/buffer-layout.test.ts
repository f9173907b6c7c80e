import { describe, expect, it } from 'vitest';
import { planLayout, STAGGER_BYTES } from './buffer-layout.js';

const PAGE = 4096;

describe('planLayout', () => {
  it.each([
    ['float32', [8 << 20, 8 << 20, 8 << 20]],
    ['bfloat16', [1 << 20, 4096, 1 << 16]],
    ['float16', [3, 5, 1000]],
  ] as const)('starts the arrays of each %s tensor in different cache sets of a page', (dtype, numels) => {
    const layout = planLayout(numels, dtype);
    for (const r of layout.regions) {
      const starts = [r.param, r.grad, r.expAvg, r.expAvgSq, ...(dtype === 'float32' ? [] : [r.kahan])];
      for (const start of starts) expect(start % 16).toBe(0);
      const inPage = starts.map((start) => start % PAGE).sort((a, b) => a - b);
      // Pairwise at least STAGGER_BYTES apart within the page, wrapping around.
      const gaps = inPage.map((at, i) => ((inPage[(i + 1) % inPage.length] as number) - at + PAGE) % PAGE);
      expect(Math.min(...gaps)).toBeGreaterThanOrEqual(STAGGER_BYTES);
    }
  });

  it('keeps the regions apart and the gradients back to back', () => {
    const numels = [7, 1 << 12, 33];
    const layout = planLayout(numels, 'bfloat16');
    const spans = layout.regions.flatMap((r) =>
      [r.param, r.grad, r.expAvg, r.expAvgSq, r.kahan].map((start) => [start, start + r.numel * 2] as const),
    );
    spans.sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < spans.length; i++) expect(spans[i]?.[0]).toBeGreaterThanOrEqual(spans[i - 1]?.[1] as number);
    expect(layout.regions[0]?.grad).toBe(layout.gradsOffset);
    expect(layout.gradsBytes).toBe(16 + 8192 + 80);
    expect(layout.bytes).toBeGreaterThanOrEqual(spans.at(-1)?.[1] as number);
  });
});
