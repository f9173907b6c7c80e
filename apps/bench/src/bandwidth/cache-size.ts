import { readdirSync, readFileSync } from 'node:fs';

/** Parses sysfs cache sizes like `266240K` or `4M` into bytes (undefined when unreadable). */
export function parseCacheSize(text: string): number | undefined {
  const m = /^(\d+)\s*([KMG])?/i.exec(text.trim());
  if (!m) return undefined;
  const unit = { K: 2 ** 10, M: 2 ** 20, G: 2 ** 30 }[(m[2] ?? '').toUpperCase() as 'K' | 'M' | 'G'] ?? 1;
  return Number(m[1]) * unit;
}

/**
 * The largest CPU cache of this machine in bytes (Linux sysfs), or undefined where it cannot be
 * read. Server parts can have hundreds of MiB of last-level cache, so bandwidth arrays are sized
 * from it rather than fixed.
 */
export function lastLevelCacheBytes(root = '/sys/devices/system/cpu/cpu0/cache'): number | undefined {
  try {
    const sizes = readdirSync(root)
      .filter((d) => d.startsWith('index'))
      .map((d) => parseCacheSize(readFileSync(`${root}/${d}/size`, 'utf8')))
      .filter((s): s is number => s !== undefined);
    return sizes.length > 0 ? Math.max(...sizes) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Floats per STREAM array so that every op streams well past the cache: each array twice the
 * last-level cache (at least 64 MiB, at most 1 GiB so three fit in a 4 GiB WebAssembly memory).
 */
export function streamFloats(cacheBytes: number | undefined): number {
  const bytes = Math.min(2 ** 30, Math.max(64 * 2 ** 20, 2 * (cacheBytes ?? 0)));
  return Math.ceil(bytes / 4 / 64) * 64;
}
