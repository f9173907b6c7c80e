import { FINAL_SUM_MAX, REDUCTION_BLOCK } from '../kernels/block-reduction.js';
import { vectorLayout } from '../kernels/vector.js';

/** Launches of one tree reduction over `numel` elements: 16-element levels, then one final sum of at most FINAL_SUM_MAX. */
export function reductionLaunches(numel: number): number {
  let levels = 1;
  for (let n = Math.ceil(numel / REDUCTION_BLOCK); n > 1; n = n <= FINAL_SUM_MAX ? 1 : Math.ceil(n / REDUCTION_BLOCK))
    levels += 1;
  return levels;
}

/** Expected launches for one tensor in one step: moments (one kernel map or two kernels), the reduction, the update. */
export function launchesPerStep(numel: number, kernelMap: boolean): number {
  return (kernelMap ? 1 : 2) + reductionLaunches(numel) + 1;
}

/** Expected launches for one pack of the host-packed path, however many tensors it holds: moments, block sums, clipped rates, update. */
export function packedLaunchesPerStep(kernelMap: boolean): number {
  return (kernelMap ? 1 : 2) + 3;
}

/**
 * Expected launches for one tensor in one step on gpu.js `webgpu` (kernels/vector.ts): the moments
 * (one launch, or m′, v′ and the partial sums for large tensors), the partials' sum unless the
 * update adds them itself, the update.
 */
export function vectorLaunchesPerStep(numel: number): number {
  const layout = vectorLayout(numel);
  return (layout.split ? 3 : 1) + (layout.inline ? 0 : 1) + 1;
}
