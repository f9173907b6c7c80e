import type { DynamicLossScaler, MaybePromise, ParamGroup } from '@stable-adamw/core';
import { andThen, type CounterValues, momentScalars } from '@stable-adamw/core/adapter';
import { launchAddCount, launchControl, type ScalerArgs } from './kernels/control.js';
import { countNonFinite, FLOAT32_MAX } from './kernels/non-finite.js';
import { CONTROL } from './kernels/source.js';
import { upload } from './kernels/upload.js';
import { hostHasNonFinite } from './non-finite.js';
import type { GpuJsParam } from './param.js';
import type { BatchItem, StepEnvironment } from './step-types.js';
import { type GpuJsTensor, isDeviceTensor } from './tensor.js';
import { inOrder, Transaction } from './transaction.js';

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
  /** Steps run in this epoch. */
  #steps = 0;
  /** Host values, uploaded with the control launch (a few floats per group and row). */
  #betas: { tensor: Float32Array; rows: number; key: string } | undefined;

  constructor(env: StepEnvironment, read: (tensor: GpuJsTensor) => MaybePromise<Float32Array>) {
    this.#env = env;
    this.#read = read;
  }

  /** Connects the optimizer whose counters the device keeps. */
  attach(host: CounterHost): void {
    this.#host = host;
  }

  /** Device steps whose counters the host has not read yet. */
  get pending(): number {
    return this.#started ? this.#steps : 0;
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
      );
    const fail = (error: unknown): never => {
      tx.rollback();
      throw error;
    };
    try {
      const result = andThen(andThen(this.#begin(), count), () => {
        const prev = this.#ctl as GpuJsTensor;
        const betas = this.#betasTable(host);
        return andThen(
          launchControl(
            kernels,
            host.paramGroups.length,
            { prev, found, betas: betas.tensor },
            hostFound,
            betas.rows,
            scalerArgs(host.lossScaler),
            FLOAT32_MAX,
          ),
          (ctl) => {
            tx.made(ctl);
            const control = (g: number) => ({ ctl, row: CONTROL.rows + 3 * g });
            return andThen(run(items.map((item) => ({ ...item, control: control(groupOf.get(item.param) as number) }))), () => {
              tx.finish([ctl]);
              this.#env.release(prev);
              this.#ctl = this.#env.own(ctl);
              this.#steps += 1;
            });
          },
        );
      });
      return result instanceof Promise ? result.catch(fail) : result;
    } catch (error) {
      return fail(error);
    }
  }

  /**
   * Reads the control tensor once (when device steps are unread) and sets the host's counters to
   * the device's; the next step starts a new epoch from them.
   */
  settle(): MaybePromise<void> {
    if (!this.#started || this.#steps === 0) return undefined;
    const base = this.#base as CounterValues;
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
    const start = new Float32Array(CONTROL.rows + 3 * host.paramGroups.length);
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
    });
  }

  /** The betas table covering this epoch's next step, (re)built when it is outgrown or a group's betas changed. */
  #betasTable(host: CounterHost): { tensor: Float32Array; rows: number } {
    const base = this.#base as CounterValues;
    const key = JSON.stringify([base.groupSteps, host.paramGroups.map((g) => [g.betas, g.eps])]);
    const current = this.#betas;
    if (current && current.key === key && current.rows > this.#steps) return current;
    let rows = current && current.key === key ? current.rows : 16;
    while (rows <= this.#steps) rows *= 2;
    const table = new Float32Array(3 * Math.max(1, host.paramGroups.length) * rows);
    host.paramGroups.forEach((group, g) => {
      for (let j = 0; j < rows; j++) {
        const t = (base.groupSteps[g] as number) + j + 1;
        const { beta1Hat, beta2Hat } = momentScalars(group.betas, group.eps, t, 'float32', true);
        table.set([1 - beta1Hat, beta2Hat, 1 - beta2Hat], 3 * (g * rows + j));
      }
    });
    this.#betas = { tensor: table, rows, key };
    return this.#betas;
  }
}
