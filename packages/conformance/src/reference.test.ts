import { describe, expect, it } from 'vitest';
import { withinTolerance } from './compare.js';
import { goldenEntries } from './golden.js';
import { observeReference, referenceFor, referenceStep } from './harness.js';
import { compareObserved } from './measure.js';

// The reference is what adapters are compared against, so it must itself reproduce optimi.
describe('the float64 reference reproduces optimi', () => {
  for (const golden of goldenEntries) {
    it(golden.name, async () => {
      const scenario = await golden.load();
      expect(scenario.name).toBe(golden.name);
      expect(scenario.dtype).toBe(golden.dtype);
      expect(scenario.mode === 'gradient-release').toBe(golden.mode === 'gradient-release');
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
