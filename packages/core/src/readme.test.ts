import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

// The README embeds these files verbatim; the test suites exercise them (every core test drives
// the example adapter, and composed-kernel.test.ts is the conformance run the README shows).
const read = (path: string) => readFileSync(new URL(`../${path}`, import.meta.url), 'utf8');

describe('README', () => {
  it.each(['examples/array-adapter.ts', 'src/composed-kernel.test.ts'])('shows %s verbatim', (path) => {
    expect(read('README.md')).toContain(read(path).trim());
  });
});
