import { FINAL_SUM_MAX, REDUCTION_BLOCK } from '../kernels/block-reduction.js';

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
