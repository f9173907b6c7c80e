import { type ConformanceTarget, measureScenario, type Scenario, type ScenarioMeasurement } from '@stable-adamw/conformance';
import { observedOverLimit } from './limit-ratio.js';

/** A scenario measurement plus the worst error ÷ tolerance over every compared element. */
export interface ParityMeasurement extends ScenarioMeasurement {
  /** Max over every compared element (params and moments, every compared step) of `errorOverLimit`. */
  worstErrorOverLimit: number;
}

/** conformance's `measureScenario`, also folding each compared step into `worstErrorOverLimit`. */
export async function measureWithLimit(
  target: ConformanceTarget,
  scenario: Scenario,
  against: 'expected' | 'reference',
): Promise<ParityMeasurement> {
  let worstErrorOverLimit = 0;
  const measurement = await measureScenario(target, scenario, against, {
    onCompared(observed, expected) {
      const ratio = observedOverLimit(observed, expected, scenario.tolerance, scenario.dtype);
      worstErrorOverLimit = Math.max(worstErrorOverLimit, ratio);
    },
  });
  return { ...measurement, worstErrorOverLimit };
}
