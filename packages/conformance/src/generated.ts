import type { Dtype, ParamGroupInput, StableAdamWOptions } from '@stable-adamw/core';
import { roundToDtype } from '@stable-adamw/core/adapter';
import { referenceTolerances, type Scenario, type ScenarioStep } from './scenario.js';

/** A seeded generator of uniform [0, 1) numbers (mulberry32) with a Gaussian helper. */
export class SeededRandom {
  #state: number;
  #spare: number | undefined;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  uniform(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let z = this.#state;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    return ((z ^ (z >>> 14)) >>> 0) / 4294967296;
  }

  normal(): number {
    if (this.#spare !== undefined) {
      const spare = this.#spare;
      this.#spare = undefined;
      return spare;
    }
    const u = 1 - this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    const a = 2 * Math.PI * this.uniform();
    this.#spare = r * Math.sin(a);
    return r * Math.cos(a);
  }
}

/** What a generated scenario exercises. */
export interface GeneratedScenarioOptions {
  name: string;
  description: string;
  dtype: Dtype;
  seed: number;
  shapes: number[][];
  steps: number;
  options: StableAdamWOptions;
  /** Param groups by index; default one group with every param. */
  groups?: ParamGroupInput<number>[];
  /** Gradient standard deviation. Default 0.02. */
  gradScale?: number;
  /** Probability that a tensor's gradient in a step is multiplied by 100 (triggers clipping). */
  spikeProbability?: number;
  /** Probability that a tensor has no gradient in a step (skipped). */
  skipProbability?: number;
  /** Probability that a tensor's gradient in a step is all zeros. */
  zeroProbability?: number;
  /** Per step t (1-based), the lr of every group (a schedule). */
  lrSchedule?: (t: number) => number;
}

/** Builds a reproducible scenario with values exactly representable in its dtype. */
export function generateScenario(o: GeneratedScenarioOptions): Scenario {
  const rng = new SeededRandom(o.seed);
  const round = (x: number) => roundToDtype(x, o.dtype);
  const numelOf = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
  const params = o.shapes.map((shape) => ({
    shape,
    init: Array.from({ length: numelOf(shape) }, () => round(rng.normal() * 0.5)),
  }));
  const groups = o.groups ?? [{ params: params.map((_, i) => i) }];
  const steps: ScenarioStep[] = [];
  for (let t = 1; t <= o.steps; t++) {
    const grads = params.map(({ init }) => {
      if (rng.uniform() < (o.skipProbability ?? 0)) return null;
      if (rng.uniform() < (o.zeroProbability ?? 0)) return init.map(() => 0);
      const scale = (o.gradScale ?? 0.02) * (rng.uniform() < (o.spikeProbability ?? 0) ? 100 : 1);
      return init.map(() => round(rng.normal() * scale));
    });
    const lr = o.lrSchedule?.(t);
    steps.push({ grads, ...(lr === undefined ? {} : { lr: groups.map(() => lr) }) });
  }
  return {
    name: o.name,
    description: o.description,
    source: 'generated',
    dtype: o.dtype,
    options: o.options,
    groups,
    params,
    steps,
    tolerance: referenceTolerances(o.dtype, o.options.lr),
  };
}

/**
 * The standard generated scenarios for a dtype: mixed shapes, clipping spikes, param groups with
 * different hyperparameters, fully decoupled decay under a changing lr, skipped and zero grads.
 */
export function standardScenarios(dtype: Dtype, { steps = 30, seed = 1 }: { steps?: number; seed?: number } = {}): Scenario[] {
  const shapes = [[1], [7], [33, 17], [256], [48, 64]];
  const lr = dtype === 'float32' || dtype === 'float64' ? 1e-3 : 1e-2;
  const suffix = `-${dtype}`;
  return [
    generateScenario({
      name: `mixed-shapes${suffix}`,
      description: 'tensors from 1 to 3072 elements, default hyperparameters',
      dtype,
      seed,
      shapes,
      steps,
      options: { lr },
    }),
    generateScenario({
      name: `spikes${suffix}`,
      description: 'gradients ×100 at random steps, so the RMS clip triggers',
      dtype,
      seed: seed + 1,
      shapes,
      steps,
      spikeProbability: 0.2,
      options: { lr, weightDecay: 0.1 },
    }),
    generateScenario({
      name: `groups${suffix}`,
      description: 'two param groups overriding lr, betas, eps and weight decay',
      dtype,
      seed: seed + 2,
      shapes,
      steps,
      options: { lr },
      groups: [
        { params: [0, 2, 4], lr: 3 * lr, betas: [0.8, 0.95], weightDecay: 0.1 },
        { params: [1, 3], eps: 1e-8, weightDecay: 0 },
      ],
    }),
    generateScenario({
      name: `decoupled-schedule${suffix}`,
      description: 'fully decoupled weight decay with a warmup-then-cosine lr',
      dtype,
      seed: seed + 3,
      shapes,
      steps,
      spikeProbability: 0.1,
      options: { lr, decoupleLr: true, weightDecay: 1e-4 },
      lrSchedule: (t) => (t <= 5 ? (lr * t) / 5 : lr * 0.5 * (1 + Math.cos((Math.PI * (t - 5)) / steps))),
    }),
    generateScenario({
      name: `skips-and-zeros${suffix}`,
      description: 'params without gradients in some steps and all-zero gradients in others',
      dtype,
      seed: seed + 4,
      shapes,
      steps,
      skipProbability: 0.3,
      zeroProbability: 0.2,
      options: { lr },
    }),
  ];
}

/**
 * The spec's hand-derived example (optimi-spec Appendix A, re-derived in float64 and cross-checked
 * against optimi): step 1 is sign-like with an element on the ε² floor, step 3 is clipped
 * (RMS ≈ 1.722). Expected values only for float64 and float32 (rounded where stored).
 */
export function handCheckedScenario(dtype: 'float64' | 'float32', decoupled = false): Scenario {
  const theta = [
    [0.49899500999990004, -0.248997504999975, 0.99999, -9.09090909090909e-5],
    [0.4979900300497001, -0.2479950200249, 0.999237561258374, -0.0001351557018608929],
    [0.4976053804238054, -0.24759371122654822, 0.998856992355752, -0.0005044336788676551],
  ];
  const expAvg3 = [1.908118081180812, -1.6022140221402212, 1.1236162361623618, 0.7380074099630997];
  const expAvgSq3 = [8.423858119255257, 5.4135564459109204, 3.0310343086091427, 1.346756001481437];
  const round = (xs: number[]) => xs.map((x) => roundToDtype(x, dtype));
  const grads = [
    [0.1, -0.2, 0.0, 1e-7],
    [0.1, -0.2, 0.05, 0.0],
    [5.0, -4.0, 3.0, 2.0],
  ];
  return {
    name: `hand-checked${decoupled ? '-decoupled' : ''}-${dtype}`,
    description: 'hand-derived 3-step example: ε² floor at step 1, RMS clip (η ≈ 5.807e-4) at step 3',
    source: 'hand-derived',
    dtype,
    options: decoupled ? { lr: 1e-3, decoupleLr: true, weightDecay: 1e-5 } : { lr: 1e-3 },
    groups: [{ params: [0] }],
    params: [{ shape: [4], init: round([0.5, -0.25, 1.0, 0.0]) }],
    steps: grads.map((g, i) => {
      const params = [theta[i] as number[]];
      if (i === 1) return { grads: [round(g)], expected: { params } };
      const moments = i === 0 ? [round(g), round(g).map((x) => x * x)] : [expAvg3, expAvgSq3];
      return { grads: [round(g)], expected: { params, expAvg: [moments[0] as number[]], expAvgSq: [moments[1] as number[]] } };
    }),
    tolerance: referenceTolerances(dtype, 1e-3),
  };
}

/**
 * Gradient-release scenarios for a dtype: per-parameter steps over two groups with every gradient
 * present (equal to normal mode), with skipped gradients (per-parameter counters diverge), and
 * optimizer accumulation over 4 micro-batches per update.
 */
export function gradientReleaseScenarios(
  dtype: Dtype,
  { steps = 24, seed = 11 }: { steps?: number; seed?: number } = {},
): Scenario[] {
  const shapes = [[1], [9], [17, 5], [128]];
  const lr = dtype === 'float32' || dtype === 'float64' ? 1e-3 : 1e-2;
  const options = { lr, gradientRelease: true };
  const release = (s: Scenario): Scenario => ({ ...s, mode: 'gradient-release' });
  const groups = [
    { params: [0, 2], lr: 2 * lr, betas: [0.8, 0.95] as [number, number] },
    { params: [1, 3], weightDecay: 0.1 },
  ];
  const accumulation = release(
    generateScenario({
      name: `accumulation-${dtype}`,
      description: '',
      dtype,
      seed: seed + 2,
      shapes,
      steps,
      spikeProbability: 0.1,
      options,
    }),
  );
  return [
    release(
      generateScenario({
        name: `gradient-release-${dtype}`,
        description: 'per-parameter steps in backward order, two groups, every gradient present',
        dtype,
        seed,
        shapes,
        steps,
        groups,
        spikeProbability: 0.1,
        options,
      }),
    ),
    release(
      generateScenario({
        name: `gradient-release-skips-${dtype}`,
        description: 'per-parameter steps with missing gradients: each param keeps its own counter',
        dtype,
        seed: seed + 1,
        shapes,
        steps,
        skipProbability: 0.3,
        options,
      }),
    ),
    {
      ...accumulation,
      description: 'optimizer accumulation: 3 moment-only calls, then a full step, per update',
      steps: accumulation.steps.map((step, t) => ({ ...step, accumulate: (t + 1) % 4 !== 0 })),
    },
  ];
}
