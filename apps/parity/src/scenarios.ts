import {
  generateScenario,
  handCheckedScenario,
  loadGoldenScenarios,
  type Scenario,
  standardScenarios,
  type Tolerance,
} from '@stable-adamw/conformance';
import type { Dtype } from '@stable-adamw/core';
import { isHalfPrecision } from '@stable-adamw/core/adapter';

/** A scenario and what it is compared with. */
export interface ParityScenario {
  scenario: Scenario;
  against: 'expected' | 'reference';
}

export interface ScenarioOptions {
  /** Steps of the seeded scenarios. */
  steps: number;
  seed: number;
  /** Leave out the multi-million-element and 1000-step scenarios. */
  quick?: boolean;
}

const lrFor = (dtype: Dtype) => (isHalfPrecision(dtype) ? 1e-2 : 1e-3);

/** An LLM-like mix: a 1.6M-element matrix and smaller ones, many small tensors, a scalar. */
function llmMix(dtype: Dtype, seed: number): Scenario {
  const small = Array.from({ length: 48 }, (_, i) => [8 + (i % 5) * 24]);
  return generateScenario({
    name: `llm-mix-${dtype}`,
    description: '2048×768, 768×512 and 1000×64 matrices, 48 small vectors and a scalar; 4 steps with spikes',
    dtype,
    seed: seed + 10,
    shapes: [[2048, 768], [768, 512], [1000, 64], ...small, [1]],
    steps: 4,
    spikeProbability: 0.2,
    options: { lr: lrFor(dtype) },
  });
}

/**
 * float32 bound for the 1000-step run: 10× optimi's per-step tolerance. Backends that compute in
 * float32 (every GPU path) accumulate rounding differences against the float64-computed reference
 * roughly like √steps, so the short-run bound is not meant for 1000 steps.
 */
const DRIFT_F32: Tolerance = { kind: 'elementwise', atol: 1e-5, rtol: 1e-4 };

/** 1000 steps of a small model, to show how error grows (or not) over a long run. */
function drift(dtype: Dtype, seed: number): Scenario {
  const scenario = generateScenario({
    name: `drift-1000-${dtype}`,
    description: '1000 steps of three small tensors with occasional spikes',
    dtype,
    seed: seed + 11,
    shapes: [[64], [16, 16], [3]],
    steps: 1000,
    spikeProbability: 0.02,
    options: { lr: lrFor(dtype) },
  });
  return dtype === 'float32'
    ? { ...scenario, tolerance: { params: DRIFT_F32, expAvg: DRIFT_F32, expAvgSq: DRIFT_F32 } }
    : scenario;
}

/** 16-bit storage with Kahan summation turned off (plain rounding of every update). */
function noKahan(dtype: Dtype, seed: number, steps: number): Scenario {
  return generateScenario({
    name: `no-kahan-${dtype}`,
    description: '16-bit params updated without Kahan compensation',
    dtype,
    seed: seed + 12,
    shapes: [[1], [7], [33, 17], [256]],
    steps,
    options: { lr: lrFor(dtype), kahanSum: false },
  });
}

/**
 * Scenarios for a storage dtype: optimi's golden trajectories and the hand-derived cases against
 * their recorded values; seeded scenarios (random shapes, spikes, groups, decoupled decay under a
 * schedule, skipped and zero gradients, an LLM-like mix, a 1000-step run, 16-bit without Kahan)
 * against the float64 reference of the same dtype.
 */
export async function scenariosFor(dtype: Dtype, { steps, seed, quick = false }: ScenarioOptions): Promise<ParityScenario[]> {
  const recorded = (await loadGoldenScenarios('normal', dtype)).map((s) => ({ ...s, name: `golden/${s.name}` }));
  if (dtype === 'float64' || dtype === 'float32') {
    recorded.push(handCheckedScenario(dtype, false), handCheckedScenario(dtype, true));
  }
  const seeded = standardScenarios(dtype, { steps, seed });
  if (isHalfPrecision(dtype)) seeded.push(noKahan(dtype, seed, steps));
  if (!quick) seeded.push(llmMix(dtype, seed), drift(dtype, seed));
  return [
    ...recorded.map((scenario) => ({ scenario, against: 'expected' as const })),
    ...seeded.map((scenario) => ({ scenario, against: 'reference' as const })),
  ];
}
