import { describe, it } from 'vitest';
import { arrayTarget } from '../examples/array-adapter.js';
import { conformanceCases } from './testing/conformance.js';

// The generic kernel is what a new backend runs first: it must conform on its own.
describe('createComposedKernel over plain arrays', () => {
  for (const c of conformanceCases(arrayTarget)) it(c.name, c.run);
});
