import type { DynamicLossScaler, MaybePromise, ParamGroup } from '@stable-adamw/core';
import { andThen, type CounterValues, momentScalars } from '@stable-adamw/core/adapter';
import { controlShape, launchAddCount, launchControl, launchParamControl, type ScalerArgs } from './kernels/control.js';
import { countNonFinite, FLOAT32_MAX } from './kernels/non-finite.js';
import { CONTROL } from './kernels/source.js';
import { upload } from './kernels/upload.js';
import { hostHasNonFinite } from './non-finite.js';
import type { GpuJsParam } from './param.js';
import { deviceFailure } from './step-batch.js';
import type { BatchItem, StepEnvironment } from './step-types.js';
import { type GpuJsTensor, isDeviceTensor } from './tensor.js';
import { guarded, inOrder, Transaction } from './transaction.js';

// `nonFinite: 'skip'` decided on the device (webgl2, webgpu), with nothing read back in a step.
//
// The device keeps an epoch's counters in a small control tensor (layout in kernels/control.ts),
// one per step: a step counts the NaN/±Inf of its 'skip' groups' gradients on the device, then one
// control launch turns the previous control tensor and that count into this step's — skip flag,
// unscale factors, counters, next loss scale and each group's debiased betas — and every moment,
// RMS and update kernel takes it as an argument (a skipped step copies θ, m and v). An epoch
// begins from the host's counters at the first device step, after a read, and whenever the host's
// counters changed behind the device's back (`loadStateDict`, a scaler's `loadStateDict`).
//
// The host cannot know the step t of a step after a skip it has not read: the betas come from a
// table of rows t = base + 1 … base + rows per group (core's `momentScalars` in float64, then
// float32), indexed on the device by the epoch's clean count; it doubles when the epoch outgrows
// it and is rebuilt when a group's betas change. `settle()` reads the control tensor once and
// writes the counters back with core's `reconcileCounters`.
//
// Gradient release: a `stepParam` is decided on the device too (core's `stepParamOnDevice`). The
// control tensor also counts each param's clean calls in the epoch and whether a call was skipped
// since the last whole step; a call runs the non-finite count of its gradient (a 'skip' group's
// device gradient), one control launch of its own and the param's kernels. Its betas come from a
// table of the param's own steps, indexed by its device count; a whole step after a skipped call
// backs the scaler off and sets `lastStepSkipped`, as core's host path does.

/** The optimizer whose counters the device keeps (core's `StableAdamWOptimizer`). */
export interface CounterHost {
  readonly paramGroups: readonly ParamGroup<GpuJsParam>[];
  readonly lossScaler: DynamicLossScaler | undefined;
  readCounters(): CounterValues;
  reconcileCounters(values: CounterValues): void;
}

function sameCounters(a: CounterValues, b: CounterValues): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** `x` (finite, > 0) as significand in [0.5, 1) and exponent: x = fract · 2^exp. */
function frexp(x: number): { fract: number; exp: number } {
  let exp = Math.ceil(Math.log2(x));
  let fract = x / 2 ** exp;
  while (fract >= 1) [fract, exp] = [fract / 2, exp + 1];
  while (fract < 0.5) [fract, exp] = [fract * 2, exp - 1];
  return { fract, exp };
}

function scalerArgs(scaler: DynamicLossScaler | undefined): ScalerArgs {
  const s = scaler?.stateDict();
  if (!s) return { scaler: 0, interval: 1, growth: 1, backoff: 1, minFract: 0.5, minExp: 1, maxFract: 0.5, maxExp: 1 };
  const min = frexp(s.min_scale);
  const max = frexp(s.max_scale);
  return {
    scaler: 1,
    interval: s.growth_interval,
    growth: s.growth_factor,
    backoff: s.backoff_factor,
    minFract: min.fract,
    minExp: min.exp,
    maxFract: max.fract,
    maxExp: max.exp,
  };
}

/** Where the kernels of group `g` read their betas in a control tensor. */
function rowOf(g: number): number {
  return CONTROL.rows + 3 * g;
}

/** A group whose betas a table holds, from step `first` on. */
interface BetasEntry {
  readonly group: ParamGroup<GpuJsParam>;
  readonly first: number;
}

/** (1 − β̂1, β̂2, 1 − β̂2) at steps first … first + rows − 1 of each entry: core's float64 `momentScalars`, then float32. */
function betasTable(entries: readonly BetasEntry[], rows: number): Float32Array {
  const table = new Float32Array(3 * Math.max(1, entries.length) * rows);
  entries.forEach(({ group, first }, e) => {
    for (let j = 0; j < rows; j++) {
      const { beta1Hat, beta2Hat } = momentScalars(group.betas, group.eps, first + j, 'float32', true);
      table.set([1 - beta1Hat, beta2Hat, 1 - beta2Hat], 3 * (e * rows + j));
    }
  });
  return table;
}

/** The device's counters of one optimizer (see the file comment). */
export class DeviceSkip {
  readonly #env: StepEnvironment;
  readonly #read: (tensor: GpuJsTensor) => MaybePromise<Float32Array>;
  #host: CounterHost | undefined;
  /** The last step's control tensor (or the epoch's start), owned by the optimizer. */
  #ctl: GpuJsTensor | undefined;
  #started = false;
  /** The host's counters when the epoch began. */
  #base: CounterValues | undefined;
  /** Whole steps run in this epoch. */
  #steps = 0;
  /** `stepParam` calls run in this epoch, per param (flat index, as in the state dict). */
  #calls: number[] = [];
  /** Betas tables, uploaded with the control launch: the whole steps' (-1) and each param's (flat index). */
  readonly #tables = new Map<number, { tensor: Float32Array; rows: number; key: string }>();

  constructor(env: StepEnvironment, read: (tensor: GpuJsTensor) => MaybePromise<Float32Array>) {
    this.#env = env;
    this.#read = read;
  }

  /** Connects the optimizer whose counters the device keeps. */
  attach(host: CounterHost): void {
    this.#host = host;
  }

  /** Device steps and `stepParam` calls whose counters the host has not read yet. */
  get pending(): number {
    return this.#started ? this.#steps + this.#calls.reduce((a, b) => a + b, 0) : 0;
  }

  /** The host's counters were set from elsewhere (a loaded state): the next step starts an epoch from them. */
  restart(): void {
    this.#started = false;
  }

  /**
   * The current control tensor, element 0 the loss scale of the next step (starting an epoch when
   * none runs). Valid until the next step or `settle()`.
   */
  control(): MaybePromise<GpuJsTensor> {
    return andThen(this.#begin(), () => this.#ctl as GpuJsTensor);
  }

  /**
   * One step of `items` with the device's 'skip' decision: the non-finite count, the control
   * launch, then `run` with every item reading the new control tensor. On failure the counters and
   * control tensor stay those of the step before.
   */
  step(items: readonly BatchItem[], run: (items: readonly BatchItem[]) => MaybePromise<void>): MaybePromise<void> {
    const host = this.#host as CounterHost;
    const groupOf = new Map(host.paramGroups.flatMap((group, g) => group.params.map((p) => [p, g] as const)));
    const checked = items.filter((item) => host.paramGroups[groupOf.get(item.param) as number]?.nonFinite === 'skip');
    const hostFound = checked.some((item) => !isDeviceTensor(item.grad) && hostHasNonFinite(item.grad as Float32Array));
    const tx = new Transaction();
    const { kernels } = this.#env;
    let found: GpuJsTensor = Float32Array.of(0);
    // The count of every checked device gradient, summed into one 1-element tensor.
    const count = () =>
      andThen(
        inOrder(
          checked.filter((item) => isDeviceTensor(item.grad)),
          (item) =>
            andThen(countNonFinite(kernels, tx, item.grad), (n) => {
              if (found instanceof Float32Array) {
                found = n;
                return undefined;
              }
              return andThen(launchAddCount(kernels, found, n), (sum) => {
                tx.free(found);
                tx.free(n);
                found = tx.made(sum);
              });
            }),
        ),
        () => found,
      );
    return this.#advance(
      tx,
      count,
      (prev, n) => {
        const base = this.#base as CounterValues;
        const groups = host.paramGroups.map((group, g) => ({ group, first: (base.groupSteps[g] as number) + 1 }));
        const betas = this.#table(-1, groups, this.#steps);
        const tensors = { prev, found: n, betas: betas.tensor };
        return launchControl(kernels, this.#shape(), tensors, hostFound, betas.rows, scalerArgs(host.lossScaler), FLOAT32_MAX);
      },
      (ctl) => run(items.map((item) => ({ ...item, control: { ctl, row: rowOf(groupOf.get(item.param) as number) } }))),
      () => {
        this.#steps += 1;
      },
    );
  }

  /**
   * Gradient release's `stepParam` of `item` with the device's 'skip' decision: its gradient's
   * non-finite count (a 'skip' group's device gradient), one control launch of its own, then `run`
   * with the item reading the new control tensor (a skipped call copies θ, m and v). Nothing is
   * read back. On failure the counters and control tensor stay those of the call before.
   */
  stepParam(item: BatchItem, run: (items: readonly BatchItem[]) => MaybePromise<void>): MaybePromise<void> {
    const host = this.#host as CounterHost;
    const flat = host.paramGroups.flatMap((group, g) => group.params.map((param) => [param, g] as const));
    const index = flat.findIndex(([param]) => param === item.param);
    const g = (flat[index] as readonly [GpuJsParam, number])[1];
    const group = host.paramGroups[g] as ParamGroup<GpuJsParam>;
    const onDevice = group.nonFinite === 'skip' && isDeviceTensor(item.grad);
    const hostFound = group.nonFinite === 'skip' && !onDevice && hostHasNonFinite(item.grad as Float32Array);
    const tx = new Transaction();
    const { kernels } = this.#env;
    const row = rowOf(g);
    return this.#advance(
      tx,
      () => (onDevice ? countNonFinite(kernels, tx, item.grad) : Float32Array.of(0)),
      (prev, found) => {
        const first = ((this.#base as CounterValues).paramSteps?.[index] ?? 0) + 1;
        const betas = this.#table(index, [{ group, first }], this.#calls[index] ?? 0);
        const place = { index, row };
        return launchParamControl(kernels, this.#shape(), { prev, found, betas: betas.tensor }, hostFound, betas.rows, place);
      },
      (ctl) => run([{ ...item, control: { ctl, row } }]),
      () => {
        this.#calls[index] = (this.#calls[index] ?? 0) + 1;
      },
    );
  }

  /**
   * The device's part of a step or call, as one transaction: starts an epoch when needed, counts,
   * launches the control kernel on the current control tensor, runs the kernels; then the new
   * control tensor replaces the old one and `done` counts it. On failure everything made is freed
   * and a typed error thrown.
   */
  #advance(
    tx: Transaction,
    count: () => MaybePromise<GpuJsTensor>,
    control: (prev: GpuJsTensor, found: GpuJsTensor) => MaybePromise<GpuJsTensor>,
    run: (ctl: GpuJsTensor) => MaybePromise<void>,
    done: () => void,
  ): MaybePromise<void> {
    return guarded(
      () =>
        andThen(andThen(this.#begin(), count), (found) => {
          const prev = this.#ctl as GpuJsTensor;
          return andThen(control(prev, found), (ctl) => {
            tx.made(ctl);
            return andThen(run(ctl), () => {
              tx.finish([ctl]);
              this.#env.release(prev);
              this.#ctl = this.#env.own(ctl);
              done();
            });
          });
        }),
      (error) => {
        tx.rollback();
        return deviceFailure(this.#env, error);
      },
    );
  }

  /**
   * Reads the control tensor once (when device steps or calls are unread) and sets the host's
   * counters to the device's; the next step starts a new epoch from them.
   */
  settle(): MaybePromise<void> {
    if (this.pending === 0) return undefined;
    const base = this.#base as CounterValues;
    const { tail } = this.#shape();
    return andThen(this.#read(this.#ctl as GpuJsTensor), (c) => {
      const clean = c[4] as number;
      this.#host?.reconcileCounters({
        groupSteps: base.groupSteps.map((step) => step + clean),
        skippedSteps: c[5] as number,
        lastStepSkipped: (c[6] as number) > 0,
        // Exact: the significand is a float32 and the exponent an integer.
        ...(base.lossScaler
          ? { lossScaler: { scale: (c[7] as number) * 2 ** (c[8] as number), growthTracker: c[9] as number } }
          : {}),
        ...(base.paramSteps
          ? {
              paramSteps: base.paramSteps.map((step, i) => step + (c[tail + 1 + i] as number)),
              skippedSinceStep: (c[tail] as number) > 0,
            }
          : {}),
      });
      this.#started = false;
    });
  }

  /** Starts an epoch from the host's counters when none runs or they moved behind the device's back. */
  #begin(): MaybePromise<void> {
    const host = this.#host as CounterHost;
    const counters = host.readCounters();
    if (this.#started && sameCounters(counters, this.#base as CounterValues)) return undefined;
    const scale = counters.lossScaler?.scale ?? 1;
    const { fract, exp } = frexp(scale);
    // As long as a control tensor: gpu.js compiles a texture argument's size into the kernel.
    const { size, tail } = controlShape(host.paramGroups.length, counters.paramSteps?.length ?? 0);
    const start = new Float32Array(size);
    start[tail] = counters.skippedSinceStep ? 1 : 0;
    start.set([
      scale,
      0,
      1,
      1,
      0,
      counters.skippedSteps,
      counters.lastStepSkipped ? 1 : 0,
      fract,
      exp,
      counters.lossScaler?.growthTracker ?? 0,
    ]);
    return andThen(upload(this.#env.kernels, start), (ctl) => {
      if (this.#ctl) this.#env.release(this.#ctl);
      this.#ctl = this.#env.own(ctl);
      this.#started = true;
      this.#base = counters;
      this.#steps = 0;
      this.#calls = [];
    });
  }

  /** The size and tail of this epoch's control tensors. */
  #shape(): { size: number; tail: number } {
    const base = this.#base as CounterValues;
    return controlShape(base.groupSteps.length, base.paramSteps?.length ?? 0);
  }

  /**
   * A betas table (`slot` -1: the whole steps', else param `slot`'s) of rows t = first … per entry,
   * covering `used` steps of this epoch; it doubles when outgrown and is rebuilt when a first step
   * or a group's betas change.
   */
  #table(slot: number, entries: readonly BetasEntry[], used: number): { tensor: Float32Array; rows: number } {
    const key = JSON.stringify(entries.map(({ group, first }) => [first, group.betas, group.eps]));
    const current = this.#tables.get(slot);
    if (current && current.key === key && current.rows > used) return current;
    let rows = current && current.key === key ? current.rows : 16;
    while (rows <= used) rows *= 2;
    const made = { tensor: betasTable(entries, rows), rows, key };
    this.#tables.set(slot, made);
    return made;
  }
}
