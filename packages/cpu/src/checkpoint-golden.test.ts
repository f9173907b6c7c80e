/**
 * optimi's golden trajectories continue from an 'optimi' checkpoint: the recorded state at a middle
 * step (moments, group hyperparameters, step counts, all from the fixture) is written through
 * `stateDictToCheckpoint`, loaded into a fresh cpu `StableAdamW` (over the recorded params of that
 * step) with `loadCheckpoint`, and the following steps must match optimi's recorded values within
 * each file's tolerance.
 */
import {
  compareValues,
  goldenEntries,
  loadGoldenScenario,
  observe,
  runStep,
  type Scenario,
  withinTolerance,
} from '@stable-adamw/conformance';
import {
  buildParamGroups,
  isHalfPrecision,
  resolveOptions,
  stateDictToCheckpoint,
  type TensorInfo,
} from '@stable-adamw/core/adapter';
import type { StableAdamW, StateDict } from '@stable-adamw/cpu';
import { describe, expect, it } from 'vitest';
import { cpuTarget } from './testing/cpu-target.js';

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
  const order = s.groups.flatMap((g) => [...g.params]);
  const state: StateDict['state'] = {};
  order.forEach((i, flat) => {
    const m = expected.expAvg?.[i];
    const v = expected.expAvgSq?.[i];
    if (!m || !v) return;
    // Under gradient release each param counts its own steps: those where it had a gradient.
    const step = s.steps.slice(0, k).filter((st) => st.grads[i] != null).length;
    state[flat] = { exp_avg: m, exp_avg_sq: v, kahan_comp: null, ...(release ? { step } : {}) };
  });
  const groups = buildParamGroups<number>(s.groups, resolveOptions(s.options));
  let offset = 0;
  const param_groups = groups.map((h, g) => {
    const params = h.params.map((_, j) => offset + j);
    offset += params.length;
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

describe("optimi's golden trajectories continue from an 'optimi' checkpoint on the cpu adapter", () => {
  for (const { name } of goldenEntries) {
    it(`${name}: recorded state at a middle step, saved and loaded, continues on the recorded trajectory`, async () => {
      const s = await loadGoldenScenario(name);
      const k = middleStep(s);
      const at = s.steps[k - 1]?.expected as NonNullable<Scenario['steps'][number]['expected']>;
      const infos: TensorInfo[][] = s.groups.map((g) =>
        g.params.map((i) => {
          // Named as the fresh optimizer's params are (v2 files name them), so the file loads by name.
          const { shape, init, name: paramName } = s.params[i] as Scenario['params'][number];
          return { numel: init.length, dtype: s.dtype, shape, ...(paramName ? { name: paramName } : {}) };
        }),
      );
      const bytes = stateDictToCheckpoint(recordedStateDict(s, k), { layout: 'optimi', groups: infos });

      // A fresh optimizer over the params recorded at step k, with a learning rate the file replaces.
      const harness = await cpuTarget('bits').create({
        ...s,
        params: s.params.map((p, i) => ({ ...p, init: at.params[i] as number[] })),
        options: { ...s.options, lr: 123 },
      });
      await (harness.optimizer as StableAdamW).loadCheckpoint(bytes, { layout: 'optimi' });

      let compared = 0;
      for (let t = k; t < s.steps.length; t++) {
        await runStep(harness, s, t);
        const expected = s.steps[t]?.expected;
        if (!expected) continue;
        const observed = await observe(harness, s);
        const checks: (readonly [ArrayLike<number> | null, number[] | null | undefined, keyof Scenario['tolerance'], string])[] =
          [
            ...s.params.map((_, i) => [observed.params[i] ?? null, expected.params[i], 'params', `params[${i}]`] as const),
            ...s.params.map((_, i) => [observed.expAvg[i] ?? null, expected.expAvg?.[i], 'expAvg', `exp_avg[${i}]`] as const),
            ...s.params.map(
              (_, i) => [observed.expAvgSq[i] ?? null, expected.expAvgSq?.[i], 'expAvgSq', `exp_avg_sq[${i}]`] as const,
            ),
          ];
        for (const [actual, want, kind, label] of checks) {
          if (want === undefined) continue;
          if (want === null) {
            expect(actual, `${name} step ${t + 1} ${label}`).toBeNull();
            continue;
          }
          const metrics = compareValues(actual ?? [], want, s.tolerance[kind], s.dtype);
          expect(withinTolerance(metrics, s.tolerance[kind]), `${name} step ${t + 1} ${label}: ${JSON.stringify(metrics)}`).toBe(
            true,
          );
          compared += want.length;
        }
      }
      expect(compared).toBeGreaterThan(0);
      await harness.dispose();
    });
  }
});
