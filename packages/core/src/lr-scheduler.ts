import { InvalidHyperparameterError } from './errors.js';
import type { LrSchedule } from './lr-schedules.js';

/** What a scheduler needs of an optimizer: every adapter's `StableAdamW` has it. */
export interface SchedulableOptimizer {
  readonly paramGroups: readonly { lr: number; decoupleLr: boolean; maxLr: number | undefined }[];
}

/** Scheduler state for checkpoints. */
export interface LrSchedulerState {
  step: number;
  baseLrs: number[];
}

/**
 * Sets each param group's `lr` to its base lr times the schedule, like PyTorch's `LambdaLR`:
 * construct it after the optimizer (it sets the step-0 lr), call `step()` after each
 * `optimizer.step()`. Under optimizer accumulation, step it only after full steps.
 */
export class LrScheduler {
  /** Completed scheduler steps. */
  stepCount = 0;
  /** Each group's lr at construction; the schedule multiplies these. */
  readonly baseLrs: number[];
  readonly #optimizer: SchedulableOptimizer;
  readonly #schedules: readonly LrSchedule[];
  readonly #warned = new Set<number>();

  /** @param schedule one schedule for every group, or one per group. */
  constructor(optimizer: SchedulableOptimizer, schedule: LrSchedule | readonly LrSchedule[]) {
    const groups = optimizer.paramGroups.length;
    if (Array.isArray(schedule) && schedule.length !== groups) {
      throw new InvalidHyperparameterError(
        'schedule',
        schedule,
        `has ${schedule.length} schedules but the optimizer has ${groups} param groups`,
        'Pass one schedule, or one per param group.',
      );
    }
    this.#optimizer = optimizer;
    this.#schedules = Array.isArray(schedule) ? schedule : optimizer.paramGroups.map(() => schedule as LrSchedule);
    this.baseLrs = optimizer.paramGroups.map((g) => g.lr);
    this.#apply();
  }

  /** Advances one step and sets the groups' lr for the next optimizer step. */
  step(): void {
    this.stepCount += 1;
    this.#apply();
  }

  /** The lr each group will use at its next step. */
  get lastLrs(): number[] {
    return this.#optimizer.paramGroups.map((g) => g.lr);
  }

  stateDict(): LrSchedulerState {
    return { step: this.stepCount, baseLrs: [...this.baseLrs] };
  }

  loadStateDict(state: LrSchedulerState): void {
    const fix = 'Pass the object returned by LrScheduler.stateDict().';
    if (!Number.isSafeInteger(state?.step) || state.step < 0) {
      throw new InvalidHyperparameterError('state.step', state?.step, 'must be a non-negative integer', fix);
    }
    if (
      !Array.isArray(state.baseLrs) ||
      state.baseLrs.length !== this.baseLrs.length ||
      !state.baseLrs.every((x) => Number.isFinite(x) && x >= 0)
    ) {
      throw new InvalidHyperparameterError(
        'state.baseLrs',
        state.baseLrs,
        `must hold ${this.baseLrs.length} finite lrs ≥ 0`,
        fix,
      );
    }
    this.stepCount = state.step;
    this.baseLrs.splice(0, this.baseLrs.length, ...state.baseLrs);
    this.#apply();
  }

  #apply(): void {
    const lrs = this.#schedules.map((schedule, g) => (this.baseLrs[g] as number) * schedule(this.stepCount));
    lrs.forEach((lr, g) => {
      if (!Number.isFinite(lr) || lr < 0) {
        throw new InvalidHyperparameterError(
          `schedule(${this.stepCount})`,
          lr,
          `gave an invalid lr for param group ${g}`,
          'Use schedules that return finite factors ≥ 0.',
        );
      }
    });
    this.#optimizer.paramGroups.forEach((group, g) => {
      const lr = lrs[g] as number;
      (group as { lr: number }).lr = lr;
      if (group.decoupleLr && group.maxLr !== undefined && lr > group.maxLr * (1 + 1e-12) && !this.#warned.has(g)) {
        this.#warned.add(g);
        console.warn(
          `StableAdamW: the schedule sets paramGroups[${g}].lr to ${lr}, above its maxLr ${group.maxLr}. ` +
            'Fully decoupled weight decay is scaled by lr/maxLr, so it now decays more than intended; set maxLr to the peak lr.',
        );
      }
    });
  }
}
