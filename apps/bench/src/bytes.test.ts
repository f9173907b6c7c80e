import { describe, expect, it } from 'vitest';
import { bytesPerParam } from './bytes.js';

describe('bytesPerParam', () => {
  it('fp32 StableAdamW moves 36 bytes: pass 1 g,m,v→m,v (20), pass 2 p,m,v→p (16)', () => {
    expect(bytesPerParam('stable-adamw', 'float32')).toBe(4 * 5 + 4 * 4);
  });

  it('bf16 StableAdamW: 2-byte arrays, Kahan on by default adds k read + write in pass 2', () => {
    // pass 1: g, m, v read, m, v written = 5 × 2; pass 2: p, m, v, k read, p, k written = 6 × 2.
    expect(bytesPerParam('stable-adamw', 'bfloat16')).toBe(22);
    expect(bytesPerParam('stable-adamw', 'bfloat16', { kahan: false })).toBe(18);
    // float32 gradients for bf16 params: 2 more bytes read.
    expect(bytesPerParam('stable-adamw', 'bfloat16', { gradDtype: 'float32' })).toBe(24);
  });

  it('Kahan never applies to fp32 (a no-op there, as in optimi)', () => {
    expect(bytesPerParam('stable-adamw', 'float32', { kahan: true })).toBe(36);
  });

  it('fused Adam is one pass: p, g, m, v read and p, m, v written', () => {
    expect(bytesPerParam('adam', 'float32')).toBe(28);
  });

  it('fused AdamW moves what Adam does: the decoupled decay of p happens in the same pass', () => {
    expect(bytesPerParam('adamw', 'float32')).toBe(28);
  });
});
