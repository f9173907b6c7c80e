import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

// The README embeds the example adapter verbatim; the core tests drive it, and
// @stable-adamw/conformance runs it through the conformance suite.
const read = (path: string) => readFileSync(new URL(`../${path}`, import.meta.url), 'utf8');

describe('README', () => {
  it.each(['examples/array-adapter.ts'])('shows %s verbatim', (path) => {
    expect(read('README.md')).toContain(read(path).trim());
  });
});
