import type { ParamGroupInput, StableAdamWOptions, StateDict, ZeroGradOptions } from '@stable-adamw/core';
import { StableAdamWOptimizer } from '@stable-adamw/core/adapter';
import { createCpuBackend } from './backend.js';
import { checkNotBusy } from './buffer-registry.js';
import type { CpuGradient, CpuParam } from './param.js';
import type { CpuState } from './state.js';

/**
 * StableAdamW over typed arrays, with optimi's semantics and defaults.
 *
 * @example
 * ```ts
 * const weight = { data: new Float32Array([0.5, -0.25]), grad: null as Float32Array | null };
 * const opt = new StableAdamW([weight], { lr: 1e-3 });
 * weight.grad = new Float32Array([0.1, -0.2]);
 * opt.step();
 * ```
 */
export class StableAdamW extends StableAdamWOptimizer<CpuParam, CpuGradient, CpuState, number> {
  /**
   * @param params params (`{ data, grad, dtype?, name?, shape? }`) or param groups
   *   (`{ params, ...overrides }`).
   * @param options hyperparameters; `lr` is required, the rest default as in optimi.
   */
  constructor(params: readonly CpuParam[] | readonly ParamGroupInput<CpuParam>[], options: StableAdamWOptions) {
    super(createCpuBackend(), params, options);
  }

  /**
   * Updates every param that has a gradient: each param's `grad`, or, when `grads` is given, the
   * gradient it maps the param to (params missing from it are skipped, whatever their `grad`).
   * Synchronous (returns undefined), except for params of a `ParamBuffer` with `threads > 1`: then
   * it returns a Promise that must be awaited before the params are read or stepped again.
   *
   * `step(closure)`, as in PyTorch and optimi: runs `closure` (which sets the params' `grad` and
   * returns the loss), steps, and returns the loss — a Promise of it when the closure is async or
   * the step is threaded.
   */
  override step<L>(closure: () => Promise<L>): Promise<L>;
  override step<L>(closure: () => L): L | Promise<L>;
  override step(grads?: ReadonlyMap<CpuParam, CpuGradient>): undefined | Promise<void>;
  override step(closureOrGrads?: ReadonlyMap<CpuParam, CpuGradient> | (() => unknown)): unknown {
    return super.step(closureOrGrads);
  }

  /** Gradient release: updates `param` with `grad` right away (see core's `stepParam`). */
  override stepParam(param: CpuParam, grad: CpuGradient): void {
    super.stepParam(param, grad);
  }

  /**
   * Drops (default) or, with `{ setToNone: false }`, zeroes every param's `grad` (see core's
   * `zeroGrad`); zeroing keeps a `ParamBuffer`'s gradient views attached. Zeroing is refused while
   * a threaded `ParamBuffer` step reads the gradients.
   */
  override zeroGrad(options?: ZeroGradOptions): void {
    if (options?.setToNone === false) checkNotBusy(this.#params(), 'zeroGrad({ setToNone: false })');
    super.zeroGrad(options);
  }

  /**
   * The state as a JSON-serializable, PyTorch-shaped object; synchronous on this backend. Refused
   * (`InvalidParamError`, as a second `step()` is) while a threaded `ParamBuffer` step runs.
   */
  override stateDict(): StateDict {
    checkNotBusy(this.#params(), 'stateDict()');
    return super.stateDict() as StateDict;
  }

  /** Restores a state dict (see core's `loadStateDict`); refused while a threaded step runs. */
  override loadStateDict(stateDict: StateDict): void {
    checkNotBusy(this.#params(), 'loadStateDict()');
    super.loadStateDict(stateDict);
  }

  /** Frees the optimizer state (see core's `dispose`); refused while a threaded step runs. */
  override dispose(): void {
    checkNotBusy(this.#params(), 'dispose()');
    super.dispose();
  }

  *#params(): Iterable<CpuParam> {
    for (const group of this.paramGroups) yield* group.params;
  }
}
