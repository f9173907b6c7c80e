import { expect, it, vi } from 'vitest';

// The README example in a browser, where `new GPU()` picks webgl2 (readme.test.ts runs it in Node).
it('runs the README quick start on the default browser backend', async () => {
  const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
  await import('../examples/quick-start.js');
  const fitted = log.mock.calls.at(-1)?.[0] as Float32Array;
  expect(fitted[0]).toBeCloseTo(3, 1);
  expect(fitted[1]).toBeCloseTo(-1, 1);
  log.mockRestore();
});
