import { expect, it, vi } from 'vitest';
import { checkExampleOutput } from './test-support/readme-checks.js';

// The README examples in a browser, where `new GPU()` picks webgl2 (readme.test.ts runs them in Node).
const examples = {
  'quick-start.ts': () => import('../examples/quick-start.js'),
  'training-loop.ts': () => import('../examples/training-loop.js'),
};

for (const [file, load] of Object.entries(examples)) {
  it(`runs examples/${file} on the default browser backend`, async () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    try {
      await load();
      expect(log).toHaveBeenCalled();
      checkExampleOutput(file, log.mock.calls.at(-1)?.[0]);
    } finally {
      log.mockRestore();
    }
  });
}
