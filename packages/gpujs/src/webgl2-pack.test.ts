import { describe, expect, it } from 'vitest';
import { PACKED_MAX, planPacks, stripRows, textureSize, WHOLE_SUM_MAX } from './webgl2-pack.js';

// The shelf layout of webgl2-pack.ts: every tensor's rectangle (in gpu.js's layout) inside its
// pack, no two overlapping, packs split at the size limit, and partial-sum slots back to back.

function check(sizes: readonly number[], maxSize: number) {
  const plans = planPacks(
    sizes.map((n, index) => ({ index, n })),
    maxSize,
  );
  const placed = plans.flatMap((plan) => plan.entries.map((e) => e.item)).sort((a, b) => a - b);
  expect(placed).toEqual(sizes.map((_, i) => i));
  for (const plan of plans) {
    expect(plan.width).toBeLessThanOrEqual(maxSize);
    expect(plan.height).toBeLessThanOrEqual(maxSize);
    expect(plan.entries.length).toBeLessThanOrEqual(maxSize);
    const owner = new Int32Array(plan.width * plan.height).fill(-1);
    let slot = 0;
    plan.entries.forEach((e, t) => {
      expect([e.width, e.rows]).toEqual(textureSize(sizes[e.item] as number));
      expect(e.x + e.width).toBeLessThanOrEqual(plan.width);
      expect(e.y + e.rows).toBeLessThanOrEqual(plan.height);
      for (let y = e.y; y < e.y + e.rows; y++)
        for (let x = e.x; x < e.x + e.width; x++) {
          expect(owner[y * plan.width + x]).toBe(-1);
          owner[y * plan.width + x] = t;
        }
      expect(e.slot).toBe(slot);
      if (e.n <= WHOLE_SUM_MAX) expect([e.strip, e.strips]).toEqual([0, 1]);
      else expect([e.strip, e.strips]).toEqual([stripRows(e.rows), Math.ceil(e.rows / stripRows(e.rows))]);
      slot += e.strip === 0 ? 1 : e.width * e.strips;
    });
    expect(plan.slots).toBe(slot);
  }
  return plans;
}

describe('planPacks', () => {
  it('places odd sizes without overlap in one near-square pack', () => {
    const plans = check([1, 5, 300, 20_000, 97, 4099, PACKED_MAX, 2], 8192);
    expect(plans).toHaveLength(1);
  });

  it('splits into more packs at the size limit and at maxSize tensors', () => {
    expect(check(Array(40).fill(300), 64).length).toBeGreaterThan(1); // 18 × 17 rectangles, 9 to a 64 × 64 pack
    expect(check(Array(20).fill(1), 8)).toHaveLength(3); // at most 8 tensors a pack
  });
});
