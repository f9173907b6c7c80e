import { it } from 'vitest';
import { runExample } from '../../../tooling/run-example.js';
import { checkExampleOutput } from './testing/readme-checks.js';

// The README examples in a browser, where `new GPU()` picks webgl2 (readme.test.ts runs them in Node).
const examples = {
  'quick-start.ts': () => import('../examples/quick-start.js'),
  'gradient-map.ts': () => import('../examples/gradient-map.js'),
  'training-loop.ts': () => import('../examples/training-loop.js'),
  'loss-scaling.ts': () => import('../examples/loss-scaling.js'),
};

for (const [file, load] of Object.entries(examples)) {
  it(`runs examples/${file} on the default browser backend`, async () => {
    const logged = await runExample(load);
    checkExampleOutput(file, logged.at(-1));
  });
}
