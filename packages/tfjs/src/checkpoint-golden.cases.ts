/**
 * optimi's golden trajectories continue from an 'optimi' checkpoint on the active tfjs backend:
 * the recorded state at a middle step (moments, group hyperparameters, step counts, all from the
 * fixture) is written through `stateDictToCheckpoint`, named by the fresh optimizer's variables,
 * loaded with `loadCheckpoint` into a fresh `StableAdamW` over the params recorded at that step,
 * and the following steps must match optimi's recorded values within each file's tolerance. Run in
 * Node (tfjs-cpu, tfjs-wasm) and Chromium (webgl, webgpu); float32 only, as tfjs stores.
 */
import {
  compareValues,
  goldenEntries,
  type HarnessOptimizer,
  type HarnessSpec,
  type OptimizerHarness,
  observe,
  runStep,
  type Scenario,
  withinTolerance,
} from '@stable-adamw/conformance';
import type { StateDict } from '@stable-adamw/core';
import { buildParamGroups, resolveOptions, stateDictToCheckpoint, type TensorInfo } from '@stable-adamw/core/adapter';
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'vitest';
import { StableAdamW } from './stable-adamw.js';

type Expected = NonNullable<Scenario['steps'][number]['expected']>;

/** The first recorded step at or past the middle that has recorded steps after it (1-based). */
function middleStep(s: Scenario): number {
  const recorded = s.steps.flatMap((step, t) => (step.expected ? [t + 1] : []));
  const k = recorded.find((t) => t >= s.steps.length / 2 && t < (recorded.at(-1) as number));
  if (k === undefined) throw new Error(`${s.name}: no recorded step in the middle`);
  return k;
}

/** optimi's state after recorded step k, written by hand from the fixture in optimi's key names. */
function recordedStateDict(s: Scenario, k: number): StateDict {
  const expected = s.steps[k - 1]?.expected;
  if (!expected?.expAvg || !expected.expAvgSq) throw new Error(`${s.name}: step ${k} has no recorded moments`);
  const release = s.mode === 'gradient-release';
  const state: StateDict['state'] = {};
  s.groups
    .flatMap((g) => [...g.params])
    .forEach((i, flat) => {
      const m = expected.expAvg?.[i];
      const v = expected.expAvgSq?.[i];
      if (!m || !v) return;
      // Under gradient release each param counts its own steps: those where it had a gradient.
      const step = s.steps.slice(0, k).filter((st) => st.grads[i] != null).length;
      state[flat] = { exp_avg: m, exp_avg_sq: v, kahan_comp: null, ...(release ? { step } : {}) };
    });
  let offset = 0;
  const param_groups = buildParamGroups<number>(s.groups, resolveOptions(s.options)).map((h, g) => {
    const params = h.params.map((_, j) => offset + j);
    offset += params.length;
    return {
      lr: s.steps[k - 1]?.lr?.[g] ?? h.lr,
      beta1: h.betas[0],
      beta2: h.betas[1],
      eps: h.eps,
      weight_decay: h.weightDecay,
      decouple_lr: h.decoupleLr,
      max_lr: h.maxLr ?? null,
      kahan_sum: h.kahanSum ?? null,
      gradient_release: release,
      step: k,
      params,
    };
  });
  return { state, param_groups };
}

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
  const k = middleStep(s);
  const at = s.steps[k - 1]?.expected as Expected;
  // A fresh optimizer over the params recorded at step k, with a learning rate the file replaces.
  const harness = tfjsHarness({
    ...s,
    params: s.params.map((p, i) => ({ ...p, init: at.params[i] as number[] })),
    options: { ...s.options, lr: 123 },
  });
  const infos: TensorInfo[][] = s.groups.map((g) =>
    g.params.map((i) => {
      const v = harness.variables[i] as tf.Variable;
      return { numel: v.size, dtype: 'float32', shape: v.shape, name: v.name };
    }),
  );
  let compared = 0;
  try {
    harness.tfjs.loadCheckpoint(stateDictToCheckpoint(recordedStateDict(s, k), { layout: 'optimi', groups: infos }), {
      layout: 'optimi',
    });
    for (let t = k; t < s.steps.length; t++) {
      await runStep(harness, s, t);
      const expected = s.steps[t]?.expected;
      if (!expected) continue;
      const observed = await observe(harness, s);
      const fields = [
        ['params', observed.params, expected.params],
        ['expAvg', observed.expAvg, expected.expAvg],
        ['expAvgSq', observed.expAvgSq, expected.expAvgSq],
      ] as const;
      for (const [kind, actual, want] of fields) {
        want?.forEach((values, i) => {
          const label = `${s.name} step ${t + 1} ${kind}[${i}]`;
          if (values === null) {
            expect(actual[i] ?? null, label).toBeNull();
            return;
          }
          const metrics = compareValues(actual[i] ?? [], values, s.tolerance[kind], s.dtype);
          expect(withinTolerance(metrics, s.tolerance[kind]), `${label}: ${JSON.stringify(metrics)}`).toBe(true);
          compared += values.length;
        });
      }
    }
  } finally {
    harness.dispose();
  }
  return compared;
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
