import { availableParallelism, cpus, totalmem } from 'node:os';
import type { BenchReport } from './report.js';

/** CPU model, cores, memory, last-level cache, platform and Node version of this machine. */
export function machineInfo(lastLevelCacheBytes: number | undefined, chromium?: string): BenchReport['machine'] {
  return {
    cpu: cpus()[0]?.model.trim() ?? 'unknown cpu',
    cores: availableParallelism(),
    memoryBytes: totalmem(),
    ...(lastLevelCacheBytes === undefined ? {} : { lastLevelCacheBytes }),
    platform: `${process.platform}-${process.arch}`,
    node: process.version,
    ...(chromium ? { chromium } : {}),
  };
}
