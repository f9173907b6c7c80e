import { referenceFor, referenceStep, type Scenario } from '@stable-adamw/conformance';

/** One tensor's RMS (the clipping statistic) at each step of the float64 reference; null when not stepped. */
export interface RmsTrace {
  scenario: string;
  tensor: string;
  rms: (number | null)[];
}

/** RMS traces of the first `maxTensors` tensors of a scenario, from the float64 reference. */
export function rmsTraces(scenario: Scenario, maxTensors = 6): RmsTrace[] {
  const reference = referenceFor(scenario);
  const count = Math.min(scenario.params.length, maxTensors);
  const traces: RmsTrace[] = scenario.params.slice(0, count).map((p, i) => ({
    scenario: scenario.name,
    tensor: p.name ?? `#${i} [${p.shape.join('×')}]`,
    rms: [],
  }));
  scenario.steps.forEach((step, t) => {
    referenceStep(reference, scenario, t);
    traces.forEach((trace, i) => {
      trace.rms.push(step.grads[i] == null ? null : (reference.lastRms[i] ?? null));
    });
  });
  return traces;
}
