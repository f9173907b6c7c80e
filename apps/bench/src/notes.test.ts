import { describe, expect, it } from 'vitest';
import { cacheNote } from './notes.js';
import { shapes } from './shapes.js';

describe('cacheNote', () => {
  it('names the shapes whose fp32 arrays (16 B per param) fit in the last-level cache', () => {
    const [note] = cacheNote(shapes(false), 260 * 2 ** 20);
    expect(note).toBe(
      "This machine's last-level cache is 260 MiB (bandwidth arrays are sized at twice that): the fp32 arrays of large (256 MiB), small (64 MiB), llm (256 MiB) fit in it, so those rows can run partly from cache, above the DRAM bound.",
    );
    expect(cacheNote(shapes(false), 32 * 2 ** 20)[0]).toMatch(/no shape fits in it/);
    expect(cacheNote(shapes(false), undefined)).toEqual([]);
  });
});
