/**
 * optimi's golden trajectories continue from an 'optimi' checkpoint on a gpu.js mode: the
 * recorded state at a middle step (moments, group hyperparameters, step counts, all from the
 * fixture) is written through `stateDictToCheckpoint`, loaded with `loadCheckpoint` into a fresh
 * `StableAdamW` over the params recorded at that step, and the following steps must match optimi's
 * recorded values within each file's tolerance. Run in Node (cpu, webasm) and Chromium (webgl2);
 * float32 only, as gpu.js stores.
 */

import { continueGolden, goldenEntries, goldenResumePoint, type Scenario } from '@stable-adamw/conformance';
import { stateDictToCheckpoint } from '@stable-adamw/core/adapter';
import { expect } from 'vitest';
import type { StableAdamW } from './stable-adamw.js';
import type { GpuJsConformanceTarget, GpuJsTargetMode } from './testing/gpujs-target.js';

/** Continues golden scenario `s` on `target` from its recorded state at a middle step; returns how many values were compared. */
async function continueFromCheckpoint(target: GpuJsConformanceTarget, mode: GpuJsTargetMode, s: Scenario): Promise<number> {
  const point = goldenResumePoint(s);
  const harness = await target.create(point.spec);
  const optimizer = harness.optimizer as StableAdamW;
  try {
    await optimizer.loadCheckpoint(stateDictToCheckpoint(point.stateDict, { layout: 'optimi', groups: point.infos }), {
      layout: 'optimi',
    });
    const { compared, mismatches } = await continueGolden(harness, s, point.step);
    expect(mismatches).toEqual([]);
    // gpu.js falls back to cpu silently: the kernels must have run where asked.
    expect(optimizer.stats.executedModes).toEqual([mode]);
    return compared;
  } finally {
    await harness.dispose();
  }
}

/**
 * One case per float32 golden trajectory on `target` (built for `mode`): each continues from a
 * checkpoint of its recorded middle state.
 */
export function goldenCheckpointCases(
  target: GpuJsConformanceTarget,
  mode: GpuJsTargetMode,
): { name: string; run: () => Promise<void> }[] {
  return goldenEntries
    .filter((e) => e.dtype === 'float32')
    .map((e) => ({
      name: `${e.name}: recorded state at a middle step, loaded from an 'optimi' checkpoint, continues on the recorded trajectory`,
      run: async () => {
        expect(await continueFromCheckpoint(target, mode, await e.load())).toBeGreaterThan(0);
      },
    }));
}
