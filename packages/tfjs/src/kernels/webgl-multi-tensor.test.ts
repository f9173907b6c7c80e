import { describe, expect, it } from 'vitest';
import { planBatches } from './webgl-multi-tensor.js';

/** Whether any two placements of a batch overlap, or one leaves its atlas. */
function problems(batch: ReturnType<typeof planBatches>[number]): number {
  let found = 0;
  const ps = batch.placements;
  for (const [i, a] of ps.entries()) {
    if (a.x + a.cols > batch.width || a.y + a.rows > batch.height) found++;
    for (const b of ps.slice(i + 1)) {
      if (a.x < b.x + b.cols && b.x < a.x + a.cols && a.y < b.y + b.rows && b.y < a.y + a.rows) found++;
    }
  }
  return found;
}

describe('planBatches (webgl multi-tensor atlas layout)', () => {
  it('packs an LLM-like mix into one atlas near its own size, without overlaps', () => {
    const layer = [
      [512, 1536],
      [1, 1536],
      [512, 512],
      [1, 512],
      [512, 2048],
      [1, 2048],
      [2048, 512],
      [1, 512],
    ] as [number, number][];
    const shapes: [number, number][] = [[8192, 512], ...Array.from({ length: 4 }, () => layer).flat(), [1, 512]];
    const batches = planBatches(shapes, 8192, 8192);
    expect(batches).toHaveLength(1);
    const [batch] = batches;
    expect(problems(batch as never)).toBe(0);
    expect(batch?.placements.map((p) => p.index).sort((a, b) => a - b)).toEqual(shapes.map((_, i) => i));
    const area = shapes.reduce((n, [r, c]) => n + r * c, 0);
    expect((batch?.width ?? 0) * (batch?.height ?? 0)).toBeLessThan(1.5 * area);
  });

  it('opens further batches when the rectangles or the tensor count exceed one atlas', () => {
    const squares = planBatches(
      Array.from({ length: 5 }, () => [4, 4] as [number, number]),
      8,
      8,
    );
    expect(squares.map((b) => b.placements.length)).toEqual([4, 1]);
    for (const b of squares) expect(problems(b)).toBe(0);
    const many = planBatches(
      Array.from({ length: 10 }, () => [1, 1] as [number, number]),
      8,
      4,
    );
    expect(many.map((b) => b.placements.length)).toEqual([4, 4, 2]);
  });
});
