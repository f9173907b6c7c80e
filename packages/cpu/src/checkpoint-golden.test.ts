/**
 * optimi's golden trajectories continue from an 'optimi' checkpoint: the recorded state at a middle
 * step (moments, group hyperparameters, step counts, all from the fixture) is written through
 * `stateDictToCheckpoint`, loaded into a fresh cpu `StableAdamW` (over the recorded params of that
 * step) with `loadCheckpoint`, and the following steps must match optimi's recorded values within
 * each file's tolerance.
 */
import { continueGolden, goldenEntries, goldenResumePoint, loadGoldenScenario } from '@stable-adamw/conformance';
import { stateDictToCheckpoint } from '@stable-adamw/core/adapter';
import type { StableAdamW } from '@stable-adamw/cpu';
import { describe, expect, it } from 'vitest';
import { cpuTarget } from './testing/cpu-target.js';

describe("optimi's golden trajectories continue from an 'optimi' checkpoint on the cpu adapter", () => {
  for (const { name } of goldenEntries) {
    it(`${name}: recorded state at a middle step, saved and loaded, continues on the recorded trajectory`, async () => {
      const s = await loadGoldenScenario(name);
      const point = goldenResumePoint(s);
      const bytes = stateDictToCheckpoint(point.stateDict, { layout: 'optimi', groups: point.infos });
      const harness = await cpuTarget('bits').create(point.spec);
      await (harness.optimizer as StableAdamW).loadCheckpoint(bytes, { layout: 'optimi' });
      const { compared, mismatches } = await continueGolden(harness, s, point.step);
      expect(mismatches).toEqual([]);
      expect(compared).toBeGreaterThan(0);
      await harness.dispose();
    });
  }
});
