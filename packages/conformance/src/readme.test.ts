import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const read = (path: string) => readFileSync(new URL(`../${path}`, import.meta.url), 'utf8');

// The README shows this test file verbatim, so the example it documents is the one that runs.
describe('README', () => {
  it('shows src/composed-kernel.test.ts verbatim', () => {
    expect(read('README.md')).toContain(read('src/composed-kernel.test.ts').trim());
  });
});
