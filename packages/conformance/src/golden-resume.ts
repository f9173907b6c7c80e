import type { StateDict } from '@stable-adamw/core';
import { buildParamGroups, isHalfPrecision, resolveOptions, type TensorInfo } from '@stable-adamw/core/adapter';
import { compareValues, withinTolerance } from './compare.js';
import { type HarnessSpec, type OptimizerHarness, observe, runStep } from './harness.js';
import type { Scenario } from './scenario.js';

/** Where a golden trajectory is resumed from a checkpoint of optimi's recorded state. */
export interface GoldenResumePoint {
  /** The recorded step (1-based) the run resumes after. */
  readonly step: number;
  /** optimi's state after that step, written from the fixture in optimi's key names. */
  readonly stateDict: StateDict;
  /** The params as `stateDictToCheckpoint` needs them, named as the scenario names them. */
  readonly infos: TensorInfo[][];
  /** A fresh harness over the params recorded at that step, with lr 123: the checkpoint must replace it. */
  readonly spec: HarnessSpec;
}

/** The first recorded step at or past the middle that has recorded steps after it (1-based). */
function middleStep(s: Scenario): number {
  const recorded = s.steps.flatMap((step, t) => (step.expected ? [t + 1] : []));
  const k = recorded.find((t) => t >= s.steps.length / 2 && t < (recorded.at(-1) as number));
  if (k === undefined) throw new Error(`${s.name}: no recorded step in the middle`);
  return k;
}

/** optimi's state after recorded step k, from the fixture's moments, hyperparameters and step counts. */
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
    // optimi runs Kahan on 16-bit params by default: the group says so once it has state.
    const halfState = isHalfPrecision(s.dtype) && params.some((flat) => state[flat] !== undefined);
    return {
      lr: s.steps[k - 1]?.lr?.[g] ?? h.lr,
      beta1: h.betas[0],
      beta2: h.betas[1],
      eps: h.eps,
      weight_decay: h.weightDecay,
      decouple_lr: h.decoupleLr,
      max_lr: h.maxLr ?? null,
      kahan_sum: h.kahanSum ?? (halfState ? true : null),
      gradient_release: release,
      step: k,
      params,
    };
  });
  return { state, param_groups };
}

/**
 * The point a golden trajectory resumes from (a recorded middle step) with everything a checkpoint
 * test needs: write `stateDict` with `stateDictToCheckpoint(stateDict, { layout: 'optimi', groups:
 * infos })`, create a harness from `spec`, load the bytes into its optimizer, then
 * `continueGolden(harness, s, point.step)`.
 */
export function goldenResumePoint(s: Scenario): GoldenResumePoint {
  const step = middleStep(s);
  const at = s.steps[step - 1]?.expected as NonNullable<Scenario['steps'][number]['expected']>;
  const infos = s.groups.map((g) =>
    g.params.map((i): TensorInfo => {
      const { shape, init, name } = s.params[i] as Scenario['params'][number];
      return { numel: init.length, dtype: s.dtype, shape, ...(name ? { name } : {}) };
    }),
  );
  return {
    step,
    stateDict: recordedStateDict(s, step),
    infos,
    spec: {
      ...s,
      params: s.params.map((p, i) => ({ ...p, init: at.params[i] as number[] })),
      options: { ...s.options, lr: 123 },
    },
  };
}

/**
 * Runs the steps of `s` after recorded step `from` on `harness` and compares params and moments
 * with optimi's recorded values at each file's tolerance. Returns how many values were compared
 * and one line per value out of tolerance (empty when all agree).
 */
export async function continueGolden(
  harness: OptimizerHarness,
  s: Scenario,
  from: number,
): Promise<{ compared: number; mismatches: string[] }> {
  let compared = 0;
  const mismatches: string[] = [];
  for (let t = from; t < s.steps.length; t++) {
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
          if ((actual[i] ?? null) !== null) mismatches.push(`${label}: expected no state, got values`);
          return;
        }
        const metrics = compareValues(actual[i] ?? [], values, s.tolerance[kind], s.dtype);
        if (!withinTolerance(metrics, s.tolerance[kind])) mismatches.push(`${label}: ${JSON.stringify(metrics)}`);
        compared += values.length;
      });
    }
  }
  return { compared, mismatches };
}
