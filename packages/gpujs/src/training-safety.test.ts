import { describe, it } from 'vitest';
import {
  checkFindNonFinite,
  checkLossScaler,
  checkPropagateReadsNothing,
  checkSkip,
  checkThrow,
} from './training-safety.cases.js';

// Node runs gpu.js's host-resident modes: gradients are Float32Arrays, scanned on the host.
for (const mode of ['cpu', 'webasm'] as const) {
  describe(`gpujs ${mode} training safety`, () => {
    it("nonFinite 'skip': NaN/±Inf steps change nothing, then the reference", () => checkSkip(mode, 'array'));
    it("nonFinite 'throw': NonFiniteGradientError, nothing changed, then the reference", () => checkThrow(mode, 'array'));
    it("'propagate' reads nothing back", () => checkPropagateReadsNothing(mode, 'array'));
    it('a DynamicLossScaler backs off and grows, its unscale folded into the kernels', () => checkLossScaler(mode, 'array'));
    it('findNonFinite finds NaN and ±Inf anywhere, and not the largest finite values', () => checkFindNonFinite(mode, 'array'));
  });
}
