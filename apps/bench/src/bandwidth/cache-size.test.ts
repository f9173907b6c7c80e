import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { lastLevelCacheBytes, parseCacheSize, streamFloats } from './cache-size.js';

describe('cache size', () => {
  it('parses sysfs sizes', () => {
    expect(parseCacheSize('266240K\n')).toBe(266240 * 1024);
    expect(parseCacheSize('4M')).toBe(4 * 2 ** 20);
    expect(parseCacheSize('nonsense')).toBeUndefined();
  });

  it('takes the largest cache level and is undefined without sysfs', () => {
    const root = mkdtempSync(join(tmpdir(), 'cache-'));
    for (const [i, size] of ['48K', '2048K', '266240K'].entries()) {
      mkdirSync(join(root, `index${i}`));
      writeFileSync(join(root, `index${i}`, 'size'), `${size}\n`);
    }
    expect(lastLevelCacheBytes(root)).toBe(266240 * 1024);
    expect(lastLevelCacheBytes(join(root, 'missing'))).toBeUndefined();
  });

  it('sizes each array at twice the cache, between 64 MiB and 1 GiB', () => {
    expect(streamFloats(undefined)).toBe(16 * 2 ** 20);
    expect(streamFloats(260 * 2 ** 20)).toBe(130 * 2 ** 20);
    expect(streamFloats(2 ** 40)).toBe(2 ** 28);
  });
});
