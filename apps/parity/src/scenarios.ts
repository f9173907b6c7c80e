import type { Dtype } from '@stable-adamw/core';
import { goldenScenarios, handCheckedScenario, type Scenario, standardScenarios } from '@stable-adamw/core/testing';

/** A scenario and what it is compared with. */
export interface ParityScenario {
  scenario: Scenario;
  against: 'expected' | 'reference';
}

export interface ScenarioOptions {
  /** Steps of the seeded scenarios. */
  steps: number;
  seed: number;
}

/**
 * Scenarios for a storage dtype: optimi's golden trajectories and the hand-derived cases against
 * their recorded values, and seeded scenarios (random shapes, spikes, groups, decoupled decay,
 * skipped and zero gradients) against the float64 reference of the same dtype.
 */
export function scenariosFor(dtype: Dtype, { steps, seed }: ScenarioOptions): ParityScenario[] {
  const recorded = goldenScenarios.filter((s) => s.dtype === dtype).map((s) => ({ ...s, name: `golden/${s.name}` }));
  if (dtype === 'float64' || dtype === 'float32') {
    recorded.push(handCheckedScenario(dtype, false), handCheckedScenario(dtype, true));
  }
  return [
    ...recorded.map((scenario) => ({ scenario, against: 'expected' as const })),
    ...standardScenarios(dtype, { steps, seed }).map((scenario) => ({ scenario, against: 'reference' as const })),
  ];
}
