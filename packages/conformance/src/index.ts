/**
 * `@stable-adamw/conformance`: the conformance suite every adapter runs, optimi's golden
 * trajectories (loaded from `fixtures/` on first use), seeded scenarios and error metrics
 * (shared with the parity app).
 */
export { compareValues, type ErrorMetrics, mergeMetrics, ulpDistance, withinTolerance } from './compare.js';
export { type ConformanceCase, conformanceCases } from './conformance.js';
export {
  type GeneratedScenarioOptions,
  generateScenario,
  handCheckedScenario,
  SeededRandom,
  standardScenarios,
} from './generated.js';
export { type GoldenEntry, goldenEntries, loadGoldenScenario, loadGoldenScenarios } from './golden.js';
export { continueGolden, type GoldenResumePoint, goldenResumePoint } from './golden-resume.js';
export {
  type ConformanceTarget,
  type HarnessOptimizer,
  type HarnessSpec,
  type ObservedValues,
  type OptimizerHarness,
  observe,
  observeReference,
  referenceFor,
  referenceStep,
  replay,
  runStep,
  type SafetyPolicy,
} from './harness.js';
export {
  compareObserved,
  describeMismatch,
  type Field,
  type MeasureOptions,
  measureScenario,
  type ScenarioMeasurement,
  type StepErrors,
} from './measure.js';
export {
  type ExpectedValues,
  flatParamOrder,
  referenceTolerances,
  type Scenario,
  type ScenarioParam,
  type ScenarioStep,
  type ScenarioTolerances,
  type Tolerance,
} from './scenario.js';
