import { REDUCTION_BLOCK } from '../kernels/block-reduction.js';

/** Expected launches for one tensor in one step: moments (one kernel map or two kernels), each reduction level, the update. */
export function launchesPerStep(numel: number, kernelMap: boolean): number {
  let levels = 1;
  for (let n = Math.ceil(numel / REDUCTION_BLOCK); n > 1; n = Math.ceil(n / REDUCTION_BLOCK)) levels += 1;
  return (kernelMap ? 1 : 2) + levels + 1;
}
