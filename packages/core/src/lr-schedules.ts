import { InvalidHyperparameterError } from './errors.js';

/**
 * A learning-rate schedule: the factor applied to a group's base lr after `t` completed steps
 * (t = 0 before the first step), as PyTorch's `LambdaLR`.
 */
export type LrSchedule = (t: number) => number;

function requireSteps(name: string, steps: number): void {
  if (!Number.isSafeInteger(steps) || steps < 1) {
    throw new InvalidHyperparameterError(name, steps, 'must be a positive integer', 'Pass the length of the phase in steps.');
  }
}

function requireFactor(name: string, value: number): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new InvalidHyperparameterError(name, value, 'must be a finite number ≥ 0', 'Pass a factor of the base lr, e.g. 0.1.');
  }
}

/**
 * `factor`·lr for ever (default 1: the base lr). With `steps`, PyTorch's `ConstantLR(factor,
 * total_iters=steps)`: `factor`·lr for the first `steps` steps, then the base lr.
 */
export function constantLr(factor = 1, { steps }: { steps?: number } = {}): LrSchedule {
  requireFactor('factor', factor);
  if (steps === undefined) return () => factor;
  requireSteps('steps', steps);
  return (t) => (t < steps ? factor : 1);
}

/** From `start`·lr to `end`·lr linearly over `steps`, then `end`·lr. */
export function linearLr(steps: number, { start = 1, end = 0 }: { start?: number; end?: number } = {}): LrSchedule {
  requireSteps('steps', steps);
  requireFactor('start', start);
  requireFactor('end', end);
  return (t) => (t >= steps ? end : start + ((end - start) * t) / steps);
}

/** Linear warmup from `start`·lr (default 0) to the base lr over `steps`. */
export function linearWarmup(steps: number, { start = 0 }: { start?: number } = {}): LrSchedule {
  return linearLr(steps, { start, end: 1 });
}

/** Half-cosine from lr to `end`·lr (default 0) over `steps`, then `end`·lr. */
export function cosineDecay(steps: number, { end = 0 }: { end?: number } = {}): LrSchedule {
  requireSteps('steps', steps);
  requireFactor('end', end);
  return (t) => (t >= steps ? end : end + ((1 - end) * (1 + Math.cos((Math.PI * t) / steps))) / 2);
}

/** Linear decay from lr to `end`·lr (default 0) over `steps`. */
export function linearDecay(steps: number, { end = 0 }: { end?: number } = {}): LrSchedule {
  return linearLr(steps, { start: 1, end });
}

/**
 * Phases one after another: each runs for its `steps` on its own clock (t restarts at 0), and the
 * last phase continues forever. `sequence([linearWarmup(100), 100], [cosineDecay(900), 900])`.
 */
export function sequence(...phases: readonly (readonly [LrSchedule, number])[]): LrSchedule {
  if (phases.length === 0) {
    throw new InvalidHyperparameterError('phases', phases, 'must not be empty', 'Pass at least one [schedule, steps] pair.');
  }
  phases.forEach(([, steps], i) => {
    requireSteps(`phases[${i}].steps`, steps);
  });
  return (t) => {
    let start = 0;
    for (const [i, [schedule, steps]] of phases.entries()) {
      if (t < start + steps || i === phases.length - 1) return schedule(t - start);
      start += steps;
    }
    throw new Error('unreachable');
  };
}

/** The product of schedules, e.g. a decay times a periodic restart factor. */
export function multiply(...schedules: readonly LrSchedule[]): LrSchedule {
  return (t) => schedules.reduce((factor, schedule) => factor * schedule(t), 1);
}

/** Linear warmup then cosine decay to `end`·lr, the usual transformer schedule. */
export function warmupCosine(warmupSteps: number, totalSteps: number, { end = 0 }: { end?: number } = {}): LrSchedule {
  if (!(totalSteps > warmupSteps)) {
    throw new InvalidHyperparameterError(
      'totalSteps',
      totalSteps,
      `must be greater than warmupSteps (${warmupSteps})`,
      'Pass the whole run length.',
    );
  }
  return sequence(
    [linearWarmup(warmupSteps), warmupSteps],
    [cosineDecay(totalSteps - warmupSteps, { end }), totalSteps - warmupSteps],
  );
}
