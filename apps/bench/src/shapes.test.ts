import { describe, expect, it } from 'vitest';
import { llmTensors, paramCount, shapes } from './shapes.js';

describe('shapes', () => {
  it('has the sizes the issue asks for', () => {
    const byName = Object.fromEntries(shapes(false).map((s) => [s.name, s]));
    expect(byName.large?.tensors).toEqual([4194304, 4194304, 4194304, 4194304]);
    expect(byName.small?.tensors.length).toBe(512);
    expect(byName.small?.tensors.every((t) => t === 8192)).toBe(true);
    expect(paramCount(byName.target ?? { tensors: [] })).toBe(64 * 2 ** 20);
    expect(byName.target?.cpuOnly).toBe(true);
    // ~16M: 4M embedding + 4 layers of 12·512² weights and 11·512 biases/norms + a final norm.
    expect(paramCount(byName.llm ?? { tensors: [] })).toBe(8192 * 512 + 4 * (12 * 512 * 512 + 11 * 512) + 512);
  });

  it('describes sizes in binary units when exact', () => {
    expect(shapes(false).map((s) => s.description)).toEqual([
      '4 × 4M',
      '512 × 8k',
      'LLM-like mix, 16.8M in 42 tensors',
      '8 × 8M',
    ]);
    expect(shapes(true)[0]?.description).toBe('4 × 16k');
  });

  it('llm mix has one embedding, ten tensors per layer and a final norm', () => {
    const t = llmTensors(100, 8, 3);
    expect(t.length).toBe(1 + 3 * 10 + 1);
    expect(t[0]).toBe(800);
    expect(t.at(-1)).toBe(8);
  });

  it('quick shapes are small, whole and keep multiples of 4 (SIMD lanes)', () => {
    for (const s of shapes(true)) {
      expect(paramCount(s)).toBeLessThan(300_000);
      for (const n of s.tensors) expect(Number.isInteger(n) && n % 4 === 0).toBe(true);
    }
  });
});
