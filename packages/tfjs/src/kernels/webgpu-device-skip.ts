/// <reference types="@webgpu/types" />
import type { DynamicLossScaler, ParamGroup } from '@stable-adamw/core';
import { type CounterValues, momentScalars, type StableAdamWBackendV1, type TensorStep } from '@stable-adamw/core/adapter';
import * as tf from '@tensorflow/tfjs-core';
import type { TfjsState } from '../state.js';
import { type KernelChoice, resolveKernel } from './resolve-kernel.js';
import { activeWebGPU, type SkipPlan, stepWebGPUMultiTensor, type WebGPUBackendLike } from './webgpu-multi-tensor.js';
import {
  CONTROL_BYTES,
  EXP_WORD,
  FRACT_WORD,
  frexp,
  SCALE_WORD,
  SLOT_WORDS,
  skipPipelinesFor,
  skipTableOf,
} from './webgpu-skip-shader.js';

/**
 * `nonFinite: 'skip'` (and a `lossScaler`) on tfjs-webgpu's fused multi-tensor step, decided on
 * the device with nothing read back synchronously (WebGPU has none). Host side; the dispatches
 * are in `webgpu-skip-shader.ts`.
 *
 * The device keeps the counters of an epoch in a control buffer: steps since the epoch began
 * (`serial`), clean steps among them, the skipped-steps total, whether the last step was skipped,
 * and the loss scaler's scale and growth tracker. An epoch begins from the host's counters at the
 * first device step, and again whenever they changed behind the device's back (`loadStateDict`,
 * a scaler's `loadStateDict`, a backend switch, a device failure's rollback).
 *
 * The host does not know which recent steps were skipped, so it cannot know the step t of the
 * next one: each step carries a table of the debiased betas of every t the device may be at,
 * from the last read-back clean count + 1 to the optimistic one (one row per group and step
 * submitted since; computed in float64 by core's `momentScalars`, then float32, as every other
 * path does). After each step the control buffer is copied into a small mappable buffer and
 * mapped; when that resolves, the optimizer's counters are set to the device's
 * (`reconcileCounters`). Between the two, `skippedSteps`, `lastStepSkipped`, `lossScaler.scale`
 * and the group steps are those of the last step read back; `settled()` waits for the rest.
 *
 * A loss scaler's scale lives on the device too: `minimize` multiplies the loss by `lossScale()`,
 * a scalar tensor the device's next scale is copied into at the end of each step (after every
 * read of the step's own), so the loss and the kernels' unscale always use the same value.
 */

/** The optimizer whose counters the device keeps (core's `StableAdamWOptimizer`). */
export interface CounterHost {
  readonly paramGroups: readonly ParamGroup<tf.Variable>[];
  readCounters(): CounterValues;
  reconcileCounters(values: CounterValues): void;
}

type Step = TensorStep<tf.Variable, tf.Tensor, TfjsState>;

/** A counter slot as the device wrote it. */
interface Slot {
  readonly epoch: number;
  readonly serial: number;
  readonly clean: number;
  readonly skipped: number;
  readonly lastSkipped: boolean;
  readonly tracker: number;
  readonly scale: number;
}

/** How many read-back steps are kept for a device failure's rollback. */
const HISTORY = 64;
const SLOTS_BYTES = 2 * SLOT_WORDS * 4;

function sameCounters(a: CounterValues, b: CounterValues | undefined): boolean {
  return (
    b !== undefined &&
    a.skippedSteps === b.skippedSteps &&
    a.lastStepSkipped === b.lastStepSkipped &&
    a.groupSteps.length === b.groupSteps.length &&
    a.groupSteps.every((step, g) => step === b.groupSteps[g]) &&
    a.lossScaler?.scale === b.lossScaler?.scale &&
    a.lossScaler?.growthTracker === b.lossScaler?.growthTracker
  );
}

function slotWords(slot: Omit<Slot, 'serial' | 'clean'>): ArrayBuffer {
  const bytes = new ArrayBuffer(SLOT_WORDS * 4);
  new Uint32Array(bytes).set([slot.epoch, 0, 0, slot.skipped, slot.lastSkipped ? 1 : 0, slot.tracker]);
  const { fract, exp } = frexp(slot.scale);
  new Float32Array(bytes).set([slot.scale, fract], SCALE_WORD);
  new Int32Array(bytes)[EXP_WORD] = exp;
  return bytes;
}

function readSlot(bytes: ArrayBuffer, index: number): Slot {
  const u32 = new Uint32Array(bytes, index * SLOT_WORDS * 4, SLOT_WORDS);
  const f32 = new Float32Array(bytes, index * SLOT_WORDS * 4, SLOT_WORDS);
  const i32 = new Int32Array(bytes, index * SLOT_WORDS * 4, SLOT_WORDS);
  return {
    epoch: u32[0] as number,
    serial: u32[1] as number,
    clean: u32[2] as number,
    skipped: u32[3] as number,
    lastSkipped: u32[4] !== 0,
    tracker: u32[5] as number,
    // Exact: the significand is a float32 and the exponent an integer.
    scale: (f32[FRACT_WORD] as number) * 2 ** (i32[EXP_WORD] as number),
  };
}

/** The device's counters of one optimizer on tfjs-webgpu (see the file comment). */
export class DeviceSkip {
  readonly #host: () => CounterHost | undefined;
  readonly #scaler: DynamicLossScaler | undefined;
  #device: GPUDevice | undefined;
  #control: GPUBuffer | undefined;
  #scale: tf.Scalar | undefined;
  /** Mappable buffers free for the next step's read-back. */
  #staging: GPUBuffer[] = [];
  /** Bumped by `restart()`: read-backs of an older epoch are dropped. */
  #epoch = 0;
  #started = false;
  /** The host's counters when the epoch began. */
  #base: CounterValues | undefined;
  /** What the host's counters were last set to (the epoch's start or a read-back). */
  #applied: CounterValues | undefined;
  /** Steps of this epoch submitted, and the last one read back (with its clean count). */
  #submitted = 0;
  #reconciled = { serial: 0, clean: 0 };
  /** Counters after recent read-back steps, by serial (0: the epoch's start). */
  #history = new Map<number, CounterValues>();
  /** After a device failure: no read-back past this serial is applied. */
  #stopAt: number | undefined;
  #settled: Promise<void> = Promise.resolve();
  #groupOf: Map<tf.Variable, number> | undefined;
  #disposed = false;

  constructor(host: () => CounterHost | undefined, scaler: DynamicLossScaler | undefined) {
    this.#host = host;
    this.#scaler = scaler;
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
  lossScale(backend: WebGPUBackendLike): tf.Scalar {
    this.#begin(backend);
    return this.#scale as tf.Scalar;
  }

  /** One step of `steps` with the device's 'skip' decision (core's `stepTensorsOnDevice`). */
  step(backend: WebGPUBackendLike, steps: readonly Step[]): void {
    const host = this.#host() as CounterHost;
    this.#begin(backend);
    const control = this.#control as GPUBuffer;
    const slot = this.#submitted % 2;
    const staging =
      this.#staging.pop() ??
      backend.device.createBuffer({ size: SLOTS_BYTES, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const scaleBuffer = this.#scale && (backend.tensorMap.get(this.#scale.dataId)?.resource as GPUBuffer);
    const plan: SkipPlan = {
      ...phasesOf(backend.device),
      control,
      betas: this.#betas(host),
      table: (batch, rowWidth, finalize) => skipTableOf(this.#entries(host, batch), rowWidth, this.#header(slot), finalize),
      after: (encoder) => {
        encoder.copyBufferToBuffer(control, 0, staging, 0, SLOTS_BYTES);
        // The next step's scale, for the next loss: after every read of this step's.
        if (scaleBuffer) encoder.copyBufferToBuffer(control, ((1 - slot) * SLOT_WORDS + SCALE_WORD) * 4, scaleBuffer, 0, 4);
      },
    };
    try {
      stepWebGPUMultiTensor(backend, steps, plan);
    } catch (error) {
      this.#staging.push(staging);
      throw error;
    }
    this.#submitted += 1;
    const epoch = this.#epoch;
    const serial = this.#submitted;
    this.#settled = staging.mapAsync(GPUMapMode.READ).then(
      () => {
        const bytes = staging.getMappedRange().slice(0);
        staging.unmap();
        if (this.#disposed) staging.destroy();
        else this.#staging.push(staging);
        // Superseded by a later epoch (a loaded state): dropped.
        if (epoch !== this.#epoch) return;
        // The slot this step wrote; a step whose commands did not run wrote neither.
        const written = [readSlot(bytes, 0), readSlot(bytes, 1)].find((s) => s.epoch === epoch && s.serial === serial);
        if (written) this.#receive(written);
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

  /** Frees the control buffer, the scale tensor and the read-back buffers. */
  dispose(): void {
    this.#disposed = true;
    this.#control?.destroy();
    for (const buffer of this.#staging) buffer.destroy();
    this.#staging = [];
    this.#scale?.dispose();
    this.#scale = undefined;
  }

  /** Device resources for `backend`'s device, and a new epoch when the host's counters moved. */
  #begin(backend: WebGPUBackendLike): void {
    const { device } = backend;
    if (this.#device !== device) {
      this.#control?.destroy();
      this.#scale?.dispose();
      this.#scale = undefined;
      for (const buffer of this.#staging) buffer.destroy();
      this.#staging = [];
      this.#device = device;
      this.#control = device.createBuffer({
        size: CONTROL_BYTES,
        usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
      });
      this.restart();
    }
    if (this.#scaler && !this.#scale) {
      const info = backend.makeTensorInfo([], 'float32');
      backend.uploadToGPU(info.dataId);
      this.#scale = tf.keep(tf.engine().makeTensorFromTensorInfo(info) as tf.Scalar);
      this.#writeScale(backend, this.#scaler.scale);
    }
    const host = this.#host();
    if (!host) return;
    const counters = host.readCounters();
    if (this.#started && sameCounters(counters, this.#applied)) return;
    if (this.#started) this.restart();
    const start = slotWords({
      epoch: this.#epoch,
      skipped: counters.skippedSteps,
      lastSkipped: counters.lastStepSkipped,
      tracker: counters.lossScaler?.growthTracker ?? 0,
      scale: counters.lossScaler?.scale ?? 1,
    });
    const control = new Uint8Array(CONTROL_BYTES);
    control.set(new Uint8Array(start), 0);
    control.set(new Uint8Array(start), SLOT_WORDS * 4);
    device.queue.writeBuffer(this.#control as GPUBuffer, 0, control);
    if (counters.lossScaler) this.#writeScale(backend, counters.lossScaler.scale);
    this.#started = true;
    this.#base = counters;
    this.#applied = counters;
    this.#submitted = 0;
    this.#reconciled = { serial: 0, clean: 0 };
    this.#history = new Map([[0, counters]]);
  }

  #writeScale(backend: WebGPUBackendLike, scale: number): void {
    const buffer = this.#scale && backend.tensorMap.get(this.#scale.dataId)?.resource;
    backend.device.queue.writeBuffer(buffer as GPUBuffer, 0, Float32Array.of(scale));
  }

  /** (1 − β̂1, β̂2, 1 − β̂2) of every group at every step t the device may be at. */
  #betas(host: CounterHost): Float32Array<ArrayBuffer> {
    const rows = this.#submitted - this.#reconciled.serial + 1;
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

  #header(slot: number) {
    const s = this.#scaler?.stateDict();
    return {
      rows: this.#submitted - this.#reconciled.serial + 1,
      rowBase: this.#reconciled.clean,
      slot,
      ...(s
        ? {
            scaler: {
              growthInterval: s.growth_interval,
              growthFactor: s.growth_factor,
              backoffFactor: s.backoff_factor,
              minScale: s.min_scale,
              maxScale: s.max_scale,
            },
          }
        : {}),
    };
  }

  #entries(host: CounterHost, batch: readonly Step[]) {
    if (!this.#groupOf) {
      this.#groupOf = new Map(host.paramGroups.flatMap((group, g) => group.params.map((param) => [param, g] as const)));
    }
    const groupOf = this.#groupOf;
    return batch.map((step) => {
      const group = groupOf.get(step.param) as number;
      return { step, group, checked: host.paramGroups[group]?.nonFinite === 'skip' };
    });
  }

  /** A read-back slot: the host's counters become the device's (unless an epoch or a failure superseded it). */
  #receive(slot: Slot): void {
    if (this.#disposed || slot.serial <= this.#reconciled.serial) return;
    if (this.#stopAt !== undefined && slot.serial > this.#stopAt) return;
    const base = this.#base as CounterValues;
    const values: CounterValues = {
      groupSteps: base.groupSteps.map((step) => step + slot.clean),
      skippedSteps: slot.skipped,
      lastStepSkipped: slot.lastSkipped,
      ...(base.lossScaler ? { lossScaler: { scale: slot.scale, growthTracker: slot.tracker } } : {}),
    };
    this.#reconciled = { serial: slot.serial, clean: slot.clean };
    this.#history.set(slot.serial, values);
    for (const serial of this.#history.keys()) {
      if (this.#history.size <= HISTORY) break;
      this.#history.delete(serial);
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

const phasesOf = (device: GPUDevice): Pick<SkipPlan, 'layout' | 'phases'> => {
  const { layout, ratios, totals, apply } = skipPipelinesFor(device);
  return { layout, phases: [ratios, totals, apply] };
};

/**
 * `backend` with the device's 'skip' decision where the step runs on tfjs-webgpu's fused
 * multi-tensor path (`skipsOnDevice`, `stepTensorsOnDevice`); everything else as `backend` does.
 */
export function withDeviceSkip<R>(
  backend: StableAdamWBackendV1<tf.Variable, tf.Tensor, TfjsState, R>,
  skip: DeviceSkip,
  choice: KernelChoice,
): StableAdamWBackendV1<tf.Variable, tf.Tensor, TfjsState, R> {
  return {
    ...backend,
    get backendId() {
      return backend.backendId;
    },
    skipsOnDevice: () => skipsOnDevice(choice),
    stepTensorsOnDevice: (items: readonly Step[]) => skip.step(activeWebGPU() as WebGPUBackendLike, items),
  };
}

/** Whether a step with `kernel: choice` decides 'skip' on the device: tfjs-webgpu's fused multi-tensor path. */
export function skipsOnDevice(choice: KernelChoice): boolean {
  return activeWebGPU() !== undefined && resolveKernel(choice).path === 'webgpu-multi-tensor';
}
