/**
 * optimi's golden trajectories continue from an 'optimi' checkpoint on the active tfjs backend:
 * the recorded state at a middle step (moments, group hyperparameters, step counts, all from the
 * fixture) is written through `stateDictToCheckpoint`, named by the fresh optimizer's variables,
 * loaded with `loadCheckpoint` into a fresh `StableAdamW` over the params recorded at that step,
 * and the following steps must match optimi's recorded values within each file's tolerance. Run in
 * Node (tfjs-cpu, tfjs-wasm) and Chromium (webgl, webgpu); float32 only, as tfjs stores.
 */

import { continueGolden, goldenEntries, goldenResumePoint, type Scenario } from '@stable-adamw/conformance';
import { stateDictToCheckpoint, type TensorInfo } from '@stable-adamw/core/adapter';
import type * as tf from '@tensorflow/tfjs-core';
import { expect } from 'vitest';
import { tfjsHarness } from './testing/tfjs-target.js';

/** Continues golden scenario `s` from its recorded state at a middle step; returns how many values were compared. */
async function continueFromCheckpoint(s: Scenario): Promise<number> {
  const point = goldenResumePoint(s);
  const harness = tfjsHarness(point.spec);
  // Named as the harness's variables are, so the file loads by name.
  const infos: TensorInfo[][] = s.groups.map((g) =>
    g.params.map((i) => {
      const v = harness.variables[i] as tf.Variable;
      return { numel: v.size, dtype: 'float32', shape: v.shape, name: v.name };
    }),
  );
  try {
    harness.tfjs.loadCheckpoint(stateDictToCheckpoint(point.stateDict, { layout: 'optimi', groups: infos }), {
      layout: 'optimi',
    });
    const { compared, mismatches } = await continueGolden(harness, s, point.step);
    expect(mismatches).toEqual([]);
    return compared;
  } finally {
    harness.dispose();
  }
}

/** One case per float32 golden trajectory: each continues from a checkpoint of its recorded middle state. */
export const goldenCheckpointCases = goldenEntries
  .filter((e) => e.dtype === 'float32')
  .map((e) => ({
    name: `${e.name}: recorded state at a middle step, loaded from an 'optimi' checkpoint, continues on the recorded trajectory`,
    run: async () => {
      expect(await continueFromCheckpoint(await e.load())).toBeGreaterThan(0);
    },
  }));
