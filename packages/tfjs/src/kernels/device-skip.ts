import { type DynamicLossScaler, type ParamGroup, UnsupportedBackendError } from '@stable-adamw/core';
import { type CounterValues, momentScalars, type TensorStep } from '@stable-adamw/core/adapter';
import type * as tf from '@tensorflow/tfjs-core';
import type { TfjsState } from '../state.js';

/**
 * `nonFinite: 'skip'` (and a `lossScaler`) decided on the device, with nothing read back
 * synchronously: the host side both GPU backends share (tfjs-webgpu's fused multi-tensor step,
 * `webgpu-device-skip.ts`; tfjs-webgl's fused programs, `webgl-device-skip.ts`). Each backend is a
 * `CounterEngine` that keeps the counters on its device.
 *
 * The device keeps the counters of an epoch: clean steps since the epoch began, the skipped-steps
 * total, whether the last step was skipped, and the loss scaler's scale and growth tracker. An
 * epoch begins from the host's counters at the first device step, and again whenever they changed
 * behind the device's back (`loadStateDict`, a scaler's `loadStateDict`, a backend switch, a
 * device failure's rollback).
 *
 * The host does not know which recent steps were skipped, so it cannot know the step t of the
 * next one: each step carries a table of the debiased betas of every t the device may be at,
 * from the last read-back clean count + 1 to the optimistic one (one row per group and step
 * submitted since; computed in float64 by core's `momentScalars`, then float32, as every other
 * path does). Each step's counters are read back asynchronously; when they arrive, the
 * optimizer's counters are set to the device's (`reconcileCounters`). Between the two,
 * `skippedSteps`, `lastStepSkipped`, `lossScaler.scale` and the group steps are those of the last
 * step read back; `settled()` waits for the rest.
 *
 * A loss scaler's scale lives on the device too: `minimize` multiplies the loss by `lossScale()`,
 * a scalar tensor holding the scale the next step unscales by, so the loss and the kernels'
 * unscale always use the same value.
 */

/** The optimizer whose counters the device keeps (core's `StableAdamWOptimizer`). */
export interface CounterHost {
  readonly paramGroups: readonly ParamGroup<tf.Variable>[];
  readCounters(): CounterValues;
  reconcileCounters(values: CounterValues): void;
}

export type Step = TensorStep<tf.Variable, tf.Tensor, TfjsState>;

/** The counters after one step, as the device wrote them (`clean`: clean steps since the epoch began). */
export interface DeviceCounts {
  readonly clean: number;
  readonly skipped: number;
  readonly lastSkipped: boolean;
  readonly tracker: number;
  readonly scale: number;
  /** A stepParam was skipped since the last whole step. */
  readonly since: boolean;
  /** Each variable's clean `stepParam` calls since the epoch began (gradient release; empty otherwise). */
  readonly params: readonly number[];
}

/** A loss scaler's settings, as the device's counter update needs them. */
export interface ScalerSettings {
  readonly growthInterval: number;
  readonly growthFactor: number;
  readonly backoffFactor: number;
  readonly minScale: number;
  readonly maxScale: number;
}

/** One tensor of a step: its group (the betas row) and whether its gradient is checked ('skip' group). */
export interface SkipEntry {
  readonly step: Step;
  readonly group: number;
  readonly checked: boolean;
}

/** What one device step needs from the host besides the tensors. */
export interface DeviceStepPlan {
  /** The epoch and this step's serial in it (1 for its first step). */
  readonly epoch: number;
  readonly serial: number;
  /** (1 − β̂1, β̂2, 1 − β̂2) of every group (`rows` each) at every step t the device may be at. */
  readonly betas: Float32Array<ArrayBuffer>;
  /** Candidate steps per group in `betas`. */
  readonly rows: number;
  /** The clean count of `betas`' first row. */
  readonly rowBase: number;
  readonly scaler?: ScalerSettings;
  readonly entries: readonly SkipEntry[];
  /**
   * A `stepParam` (gradient release): the variable's index in the counts, and whether the call
   * updates the moments only. `betas` then holds that variable's candidate steps (as group 0).
   */
  readonly param?: { readonly index: number; readonly accumulate: boolean };
}

/** A backend's device counters (see the file comment). */
export interface CounterEngine {
  /** The device the counters live on: a different one starts a new epoch. */
  readonly device: object;
  /** Writes the counters an epoch starts from. */
  begin(counters: CounterValues, epoch: number): void;
  /** The scale the next step unscales by, as a device scalar (with a loss scaler). */
  lossScale(): tf.Scalar;
  /**
   * Records one step; resolves to its counters once read back (undefined: they could not be).
   * Throws before changing anything.
   */
  step(plan: DeviceStepPlan): Promise<DeviceCounts | undefined>;
  /** Frees the device resources. */
  dispose(): void;
}

/** The engines of the backends that keep counters. */
export interface DeviceEngines {
  /** The active backend's, attached to its device. */
  active(): CounterEngine;
  readonly all: readonly CounterEngine[];
}

/** How many read-back steps are kept for a device failure's rollback. */
const HISTORY = 64;

function sameCounters(a: CounterValues, b: CounterValues | undefined): boolean {
  return (
    b !== undefined &&
    a.skippedSteps === b.skippedSteps &&
    a.lastStepSkipped === b.lastStepSkipped &&
    a.groupSteps.length === b.groupSteps.length &&
    a.groupSteps.every((step, g) => step === b.groupSteps[g]) &&
    a.lossScaler?.scale === b.lossScaler?.scale &&
    a.lossScaler?.growthTracker === b.lossScaler?.growthTracker &&
    a.skippedSinceStep === b.skippedSinceStep &&
    a.paramSteps?.length === b.paramSteps?.length &&
    (a.paramSteps ?? []).every((step, i) => step === b.paramSteps?.[i])
  );
}

/** The counters of an optimizer without variables yet: only its loss scaler's. */
function scalerOnly(scaler: DynamicLossScaler): CounterValues {
  const s = scaler.stateDict();
  return {
    groupSteps: [],
    skippedSteps: 0,
    lastStepSkipped: false,
    lossScaler: { scale: s.scale, growthTracker: s.growth_tracker },
  };
}

/** `x` (finite, > 0) as significand in [0.5, 1) and exponent: x = fract · 2^exp. */
export function frexp(x: number): { fract: number; exp: number } {
  let exp = Math.ceil(Math.log2(x));
  let fract = x / 2 ** exp;
  while (fract >= 1) {
    fract /= 2;
    exp += 1;
  }
  while (fract < 0.5) {
    fract *= 2;
    exp -= 1;
  }
  return { fract, exp };
}

/** The device's counters of one optimizer (see the file comment), on the active backend's engine. */
export class DeviceSkip {
  readonly #host: () => CounterHost | undefined;
  readonly #scaler: DynamicLossScaler | undefined;
  readonly #engines: DeviceEngines;
  #engine: CounterEngine | undefined;
  #device: object | undefined;
  /** Bumped by `restart()`: read-backs of an older epoch are dropped. */
  #epoch = 0;
  #started = false;
  /** The host's counters when the epoch began. */
  #base: CounterValues | undefined;
  /** What the host's counters were last set to (the epoch's start or a read-back). */
  #applied: CounterValues | undefined;
  /** Steps of this epoch submitted, and the last one read back (with its clean count). */
  #submitted = 0;
  #reconciled: { serial: number; clean: number; params: readonly number[] } = { serial: 0, clean: 0, params: [] };
  /** Counters after recent read-back steps, by serial (0: the epoch's start). */
  #history = new Map<number, CounterValues>();
  /** After a device failure: no read-back past this serial is applied. */
  #stopAt: number | undefined;
  #settled: Promise<void> = Promise.resolve();
  #groupOf: Map<tf.Variable, number> | undefined;
  /** Each variable's index in the counts (its state dict key). */
  #indexOf: Map<tf.Variable, number> | undefined;
  #disposed = false;

  constructor(host: () => CounterHost | undefined, scaler: DynamicLossScaler | undefined, engines: DeviceEngines) {
    this.#host = host;
    this.#scaler = scaler;
    this.#engines = engines;
  }

  /** Steps submitted whose counters were not read back yet. */
  get pending(): number {
    return this.#started ? this.#submitted - this.#reconciled.serial : 0;
  }

  /** Resolves once every step submitted so far is read back (or could not be: a lost device). */
  settled(): Promise<void> {
    return this.#settled;
  }

  /** The host's counters were set from elsewhere (a loaded state): the next step starts an epoch from them. */
  restart(): void {
    this.#epoch += 1;
    this.#started = false;
    this.#stopAt = undefined;
  }

  /**
   * The loss scale as a device scalar, for `minimize` to multiply the loss by (the same value the
   * step's kernels divide the gradients by). Starts an epoch first when the host's counters moved.
   */
  lossScale(): tf.Scalar {
    return this.#begin().lossScale();
  }

  /** One step of `steps` with the device's 'skip' decision (core's `stepTensorsOnDevice`). */
  step(steps: readonly Step[]): void {
    const host = this.#host() as CounterHost;
    const engine = this.#begin();
    const epoch = this.#epoch;
    const serial = this.#submitted + 1;
    const read = engine.step({
      epoch,
      serial,
      betas: this.#betas(host),
      rows: this.#rows(),
      rowBase: this.#reconciled.clean,
      ...(this.#scaler ? { scaler: this.#scalerSettings(this.#scaler) } : {}),
      entries: this.#entries(host, steps),
    });
    this.#submitted = serial;
    this.#settled = read.then(
      (counts) => {
        // Superseded by a later epoch (a loaded state): dropped.
        if (counts && epoch === this.#epoch) this.#receive(serial, counts);
      },
      () => undefined,
    );
  }

  /**
   * Gradient release's `stepParam` with the device's 'skip' decision (core's `stepParamOnDevice`):
   * the same passes as a step on one variable, its bias correction from its own device count.
   */
  stepParam(step: Step): void {
    const host = this.#host() as CounterHost;
    const engine = this.#begin();
    const epoch = this.#epoch;
    const serial = this.#submitted + 1;
    if (!this.#indexOf) {
      this.#indexOf = new Map(host.paramGroups.flatMap((group) => group.params).map((param, i) => [param, i] as const));
    }
    const index = this.#indexOf.get(step.param) as number;
    const [entry] = this.#entries(host, [step]) as [SkipEntry];
    const rowBase = this.#reconciled.params[index] ?? 0;
    const rows = this.#rows();
    const read = engine.step({
      epoch,
      serial,
      betas: this.#paramBetas(host, entry.group, index, rowBase, rows),
      rows,
      rowBase,
      ...(this.#scaler ? { scaler: this.#scalerSettings(this.#scaler) } : {}),
      entries: [{ ...entry, group: 0 }],
      param: { index, accumulate: !step.moments.reduce },
    });
    this.#submitted = serial;
    this.#settled = read.then(
      (counts) => {
        if (counts && epoch === this.#epoch) this.#receive(serial, counts);
      },
      () => undefined,
    );
  }

  /**
   * A point to roll the counters back to if the step about to run fails on the device (see
   * `DeviceGuard`): the counters after the last step before it, once read back.
   */
  rollbackPoint(): () => void {
    const epoch = this.#epoch;
    const serial = this.#submitted;
    return () => {
      if (epoch !== this.#epoch || !this.#started) return;
      this.#stopAt = serial;
      const known = this.#history.get(serial);
      if (known) this.#apply(known);
    };
  }

  /** Frees the engines' device resources. */
  dispose(): void {
    this.#disposed = true;
    for (const engine of this.#engines.all) engine.dispose();
  }

  /** The active backend's engine, and a new epoch when the device changed or the host's counters moved. */
  #begin(): CounterEngine {
    const engine = this.#engines.active();
    if (engine !== this.#engine && this.pending > 0) {
      throw new UnsupportedBackendError(
        `the tfjs backend changed while ${this.pending} step(s) whose counters the device keeps (nonFinite: 'skip') are not read back yet`,
        'await optimizer.settled() before switching the backend.',
      );
    }
    if (engine.device !== this.#device) {
      this.#engine = engine;
      this.#device = engine.device;
      this.restart();
    }
    const host = this.#host();
    if (!host) {
      // No variables yet (`stableAdamW(...)` before its first step): the scale for the first loss.
      if (this.#scaler && !this.#started) engine.begin(scalerOnly(this.#scaler), this.#epoch);
      return engine;
    }
    const counters = host.readCounters();
    if (this.#started && sameCounters(counters, this.#applied)) return engine;
    if (this.#started) this.restart();
    engine.begin(counters, this.#epoch);
    this.#started = true;
    this.#base = counters;
    this.#applied = counters;
    this.#submitted = 0;
    this.#reconciled = { serial: 0, clean: 0, params: [] };
    this.#history = new Map([[0, counters]]);
    return engine;
  }

  /**
   * Rows per group of the betas table: one per step the device may be at, rounded up to a power of
   * two (≥ 2), so the table's shape (part of a compiled WebGL program's key) rarely changes.
   */
  #rows(): number {
    return 2 ** Math.ceil(Math.log2(Math.max(2, this.#submitted - this.#reconciled.serial + 1)));
  }

  /** (1 − β̂1, β̂2, 1 − β̂2) of every group at every step t the device may be at. */
  #betas(host: CounterHost): Float32Array<ArrayBuffer> {
    const rows = this.#rows();
    const groups = host.paramGroups;
    const out = new Float32Array(Math.max(1, groups.length) * rows * 3);
    const base = this.#base as CounterValues;
    groups.forEach((group, g) => {
      for (let j = 0; j < rows; j++) {
        const t = (base.groupSteps[g] as number) + this.#reconciled.clean + j + 1;
        const { beta1Hat, beta2Hat } = momentScalars(group.betas, group.eps, t, 'float32', true);
        out.set([1 - beta1Hat, beta2Hat, 1 - beta2Hat], (g * rows + j) * 3);
      }
    });
    return out;
  }

  /** (1 − β̂1, β̂2, 1 − β̂2) of one variable at every step t its device count may be at. */
  #paramBetas(host: CounterHost, g: number, index: number, rowBase: number, rows: number): Float32Array<ArrayBuffer> {
    const group = host.paramGroups[g] as ParamGroup<tf.Variable>;
    const first = ((this.#base as CounterValues).paramSteps?.[index] ?? 0) + rowBase + 1;
    const out = new Float32Array(rows * 3);
    for (let j = 0; j < rows; j++) {
      const { beta1Hat, beta2Hat } = momentScalars(group.betas, group.eps, first + j, 'float32', true);
      out.set([1 - beta1Hat, beta2Hat, 1 - beta2Hat], j * 3);
    }
    return out;
  }

  #scalerSettings(scaler: DynamicLossScaler): ScalerSettings {
    const s = scaler.stateDict();
    return {
      growthInterval: s.growth_interval,
      growthFactor: s.growth_factor,
      backoffFactor: s.backoff_factor,
      minScale: s.min_scale,
      maxScale: s.max_scale,
    };
  }

  #entries(host: CounterHost, batch: readonly Step[]): SkipEntry[] {
    if (!this.#groupOf) {
      this.#groupOf = new Map(host.paramGroups.flatMap((group, g) => group.params.map((param) => [param, g] as const)));
    }
    const groupOf = this.#groupOf;
    return batch.map((step) => {
      const group = groupOf.get(step.param) as number;
      return { step, group, checked: host.paramGroups[group]?.nonFinite === 'skip' };
    });
  }

  /** A read-back step: the host's counters become the device's (unless an epoch or a failure superseded it). */
  #receive(serial: number, counts: DeviceCounts): void {
    if (this.#disposed || serial <= this.#reconciled.serial) return;
    if (this.#stopAt !== undefined && serial > this.#stopAt) return;
    const base = this.#base as CounterValues;
    const values: CounterValues = {
      groupSteps: base.groupSteps.map((step) => step + counts.clean),
      skippedSteps: counts.skipped,
      lastStepSkipped: counts.lastSkipped,
      ...(base.lossScaler ? { lossScaler: { scale: counts.scale, growthTracker: counts.tracker } } : {}),
      ...(base.paramSteps
        ? {
            paramSteps: base.paramSteps.map((step, i) => step + (counts.params[i] ?? 0)),
            skippedSinceStep: counts.since,
          }
        : {}),
    };
    this.#reconciled = { serial, clean: counts.clean, params: counts.params };
    this.#history.set(serial, values);
    for (const key of this.#history.keys()) {
      if (this.#history.size <= HISTORY) break;
      this.#history.delete(key);
    }
    this.#apply(values);
  }

  #apply(values: CounterValues): void {
    try {
      this.#host()?.reconcileCounters(values);
      this.#applied = values;
    } catch {
      // A disposed optimizer: nothing to reconcile.
    }
  }
}
