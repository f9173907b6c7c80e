/**
 * optimi's golden trajectories continue from an 'optimi' checkpoint on the active tfjs backend:
 * the recorded state at a middle step (moments, group hyperparameters, step counts, all from the
 * fixture) is written through `stateDictToCheckpoint`, named by the fresh optimizer's variables,
 * loaded with `loadCheckpoint` into a fresh `StableAdamW` over the params recorded at that step,
 * and the following steps must match optimi's recorded values within each file's tolerance. Run in
 * Node (tfjs-cpu, tfjs-wasm) and Chromium (webgl, webgpu); float32 only, as tfjs stores.
 */

import {
  continueGolden,
  goldenEntries,
  goldenResumePoint,
  type HarnessOptimizer,
  type HarnessSpec,
  type OptimizerHarness,
  type Scenario,
} from '@stable-adamw/conformance';
import { stateDictToCheckpoint, type TensorInfo } from '@stable-adamw/core/adapter';
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'vitest';
import { StableAdamW } from './stable-adamw.js';

/** A harness over tfjs variables that also exposes the optimizer itself (for `loadCheckpoint`). */
function tfjsHarness(
  spec: HarnessSpec,
): OptimizerHarness & { optimizer: HarnessOptimizer; tfjs: StableAdamW; variables: tf.Variable[] } {
  const prefix = `golden_ckpt_${Math.random().toString(36).slice(2)}`;
  const variables = spec.params.map((p, i) =>
    tf.tidy(() =>
      tf.variable(tf.tensor(Float32Array.from(p.init), p.shape, 'float32'), true, `${prefix}/${p.name ?? `param${i}`}`),
    ),
  );
  const groups = spec.groups.map(({ params: indices, ...overrides }) => ({
    ...overrides,
    params: indices.map((i) => variables[i] as tf.Variable),
  }));
  const optimizer = new StableAdamW(groups, spec.options);
  let grads: (tf.Tensor | null)[] = [];
  const dropGrads = () => {
    tf.dispose(grads.filter((g) => g !== null));
    grads = [];
  };
  return {
    tfjs: optimizer,
    variables,
    optimizer: {
      get paramGroups() {
        return optimizer.paramGroups;
      },
      get accumulate() {
        return optimizer.accumulate;
      },
      set accumulate(value: boolean) {
        optimizer.accumulate = value;
      },
      step: () =>
        optimizer.applyGradients(grads.flatMap((g, i) => (g ? [{ name: (variables[i] as tf.Variable).name, tensor: g }] : []))),
      stateDict: () => optimizer.stateDict(),
      loadStateDict: (sd) => optimizer.loadStateDict(sd),
    },
    backendId: optimizer.backendId,
    setGrads(values) {
      dropGrads();
      grads = values.map((g, i) => (g ? tf.tensor(Float32Array.from(g), (variables[i] as tf.Variable).shape, 'float32') : null));
    },
    stepParam(i, values) {
      const v = variables[i] as tf.Variable;
      const grad = tf.tensor(Float32Array.from(values), v.shape, 'float32');
      try {
        optimizer.stepParam(v, grad);
      } finally {
        grad.dispose();
      }
    },
    readParams: () => Promise.all(variables.map(async (v) => Float64Array.from(await v.data()))),
    dispose() {
      dropGrads();
      optimizer.dispose();
      tf.dispose(variables);
    },
  };
}

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
