import { describe, expect, it } from 'vitest';
import { withinTolerance } from './testing/compare.js';
import { goldenGradientReleaseScenarios, goldenScenarios } from './testing/golden.js';
import { observeReference, referenceFor, referenceStep } from './testing/harness.js';
import { compareObserved } from './testing/measure.js';

// The reference is what adapters are compared against, so it must itself reproduce optimi.
describe('the float64 reference reproduces optimi', () => {
  for (const scenario of [...goldenScenarios, ...goldenGradientReleaseScenarios]) {
    it(scenario.name, () => {
      const reference = referenceFor(scenario);
      scenario.steps.forEach((step, t) => {
        referenceStep(reference, scenario, t);
        if (!step.expected) return;
        const metrics = compareObserved(observeReference(reference), step.expected, scenario.tolerance, scenario.dtype);
        for (const [field, m] of Object.entries(metrics)) {
          const tolerance = scenario.tolerance[field as keyof typeof scenario.tolerance];
          expect(withinTolerance(m, tolerance), `step ${t + 1} ${field}: ${JSON.stringify(m)}`).toBe(true);
        }
      });
    });
  }
});
