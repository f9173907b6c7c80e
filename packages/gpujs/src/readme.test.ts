import { expect } from 'vitest';
import { describeReadmeExamples } from '../../../tooling/readme-examples.js';

describeReadmeExamples(new URL('../', import.meta.url), (logged) => {
  const fitted = logged.at(-1)?.[0] as Float32Array;
  expect(fitted[0]).toBeCloseTo(3, 1);
  expect(fitted[1]).toBeCloseTo(-1, 1);
});
