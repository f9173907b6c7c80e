/// <reference types="@webgpu/types" />
import type { CounterValues } from '@stable-adamw/core/adapter';
import * as tf from '@tensorflow/tfjs-core';
import { type CounterEngine, type DeviceCounts, type DeviceStepPlan, frexp, type SkipEntry } from './device-skip.js';
import { type SkipPlan, stepWebGPUMultiTensor, type WebGPUBackendLike } from './webgpu-multi-tensor.js';
import {
  CONTROL_BYTES,
  EXP_WORD,
  FRACT_WORD,
  SCALE_WORD,
  SINCE_WORD,
  type SkipHeader,
  SLOT_WORDS,
  skipPipelinesFor,
  skipTableOf,
} from './webgpu-skip-shader.js';

/**
 * `nonFinite: 'skip'` (and a `lossScaler`) on tfjs-webgpu's fused multi-tensor step, decided on
 * the device with nothing read back synchronously (WebGPU has none): the device side of
 * `DeviceSkip` (`device-skip.ts`, which holds the host side both GPU backends share). The
 * dispatches are in `webgpu-skip-shader.ts`.
 *
 * A loss scaler's scale is a scalar tensor the device's next scale is copied into at the end of
 * each step (after every read of the step's own).
 */

/** A counter slot as the device wrote it. */
interface Slot extends DeviceCounts {
  readonly epoch: number;
  readonly serial: number;
}

const SLOTS_BYTES = 2 * SLOT_WORDS * 4;

function slotWords(epoch: number, counters: CounterValues): ArrayBuffer {
  const bytes = new ArrayBuffer(SLOT_WORDS * 4);
  const scale = counters.lossScaler?.scale ?? 1;
  new Uint32Array(bytes).set([
    epoch,
    0,
    0,
    counters.skippedSteps,
    counters.lastStepSkipped ? 1 : 0,
    counters.lossScaler?.growthTracker ?? 0,
  ]);
  const { fract, exp } = frexp(scale);
  new Float32Array(bytes).set([scale, fract], SCALE_WORD);
  new Int32Array(bytes)[EXP_WORD] = exp;
  new Uint32Array(bytes)[SINCE_WORD] = counters.skippedSinceStep ? 1 : 0;
  return bytes;
}

function readSlot(bytes: ArrayBuffer, index: number, params: readonly number[]): Slot {
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
    since: u32[SINCE_WORD] !== 0,
    params,
  };
}

/**
 * The counters on tfjs-webgpu's device: a control buffer of two slots (a step reads the slot of
 * its serial's parity and writes the other) and the variables' counts, copied after each step
 * (and `stepParam`) into a small mappable buffer and mapped (see `webgpu-skip-shader.ts`).
 */
export class WebGPUCounters implements CounterEngine {
  readonly #scaled: boolean;
  #backend: WebGPUBackendLike | undefined;
  #device: GPUDevice | undefined;
  #control: GPUBuffer | undefined;
  /** Variables counted in the control buffer (gradient release; at least one word is bound). */
  #params = 0;
  #scale: tf.Scalar | undefined;
  /** Mappable buffers free for the next step's read-back. */
  #staging: GPUBuffer[] = [];
  #disposed = false;

  constructor(scaled: boolean) {
    this.#scaled = scaled;
  }

  get device(): object {
    return this.#device as GPUDevice;
  }

  /** Uses `backend`'s device: resources for a new device (the caller then starts a new epoch). */
  attach(backend: WebGPUBackendLike): this {
    this.#backend = backend;
    const { device } = backend;
    if (this.#device === device) return this;
    this.#release();
    this.#device = device;
    this.#params = 0;
    if (this.#scaled) {
      const info = backend.makeTensorInfo([], 'float32');
      backend.uploadToGPU(info.dataId);
      this.#scale = tf.keep(tf.engine().makeTensorFromTensorInfo(info) as tf.Scalar);
    }
    return this;
  }

  begin(counters: CounterValues, epoch: number): void {
    const device = this.#device as GPUDevice;
    const params = Math.max(1, counters.paramSteps?.length ?? 0);
    if (!this.#control || params !== this.#params) {
      this.#control?.destroy();
      for (const buffer of this.#staging) buffer.destroy();
      this.#staging = [];
      this.#params = params;
      this.#control = device.createBuffer({
        size: CONTROL_BYTES + 4 * params,
        usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
      });
    }
    const start = slotWords(epoch, counters);
    // Each variable counts its clean calls from 0 in an epoch.
    const control = new Uint8Array(CONTROL_BYTES + 4 * params);
    control.set(new Uint8Array(start), 0);
    control.set(new Uint8Array(start), SLOT_WORDS * 4);
    device.queue.writeBuffer(this.#control, 0, control);
    const buffer = this.#scale && this.#backend?.tensorMap.get(this.#scale.dataId)?.resource;
    if (buffer) device.queue.writeBuffer(buffer as GPUBuffer, 0, Float32Array.of(counters.lossScaler?.scale ?? 1));
  }

  lossScale(): tf.Scalar {
    return this.#scale as tf.Scalar;
  }

  step(plan: DeviceStepPlan): Promise<DeviceCounts | undefined> {
    const backend = this.#backend as WebGPUBackendLike;
    const control = this.#control as GPUBuffer;
    const slot = (plan.serial - 1) % 2;
    const paramBytes = 4 * this.#params;
    const staging =
      this.#staging.pop() ??
      backend.device.createBuffer({
        size: SLOTS_BYTES + paramBytes,
        usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      });
    const scaleBuffer = this.#scale && (backend.tensorMap.get(this.#scale.dataId)?.resource as GPUBuffer);
    const header: SkipHeader = {
      rows: plan.rows,
      rowBase: plan.rowBase,
      slot,
      ...(plan.scaler ? { scaler: plan.scaler } : {}),
      ...(plan.param ? { param: plan.param } : {}),
    };
    const entries = new Map(plan.entries.map((e) => [e.step, e]));
    const skipPlan: SkipPlan = {
      ...phasesOf(backend.device),
      control,
      betas: plan.betas,
      table: (batch, rowWidth, finalize) =>
        skipTableOf(
          batch.map((step) => entries.get(step) as SkipEntry),
          rowWidth,
          header,
          finalize,
        ),
      after: (encoder) => {
        encoder.copyBufferToBuffer(control, 0, staging, 0, SLOTS_BYTES);
        encoder.copyBufferToBuffer(control, CONTROL_BYTES, staging, SLOTS_BYTES, paramBytes);
        // The next step's scale, for the next loss: after every read of this step's.
        if (scaleBuffer) encoder.copyBufferToBuffer(control, ((1 - slot) * SLOT_WORDS + SCALE_WORD) * 4, scaleBuffer, 0, 4);
      },
    };
    try {
      stepWebGPUMultiTensor(
        backend,
        plan.entries.map((e) => e.step),
        skipPlan,
      );
    } catch (error) {
      this.#staging.push(staging);
      throw error;
    }
    return staging.mapAsync(GPUMapMode.READ).then(() => {
      const bytes = staging.getMappedRange().slice(0);
      staging.unmap();
      if (this.#disposed || staging.size !== SLOTS_BYTES + 4 * this.#params) staging.destroy();
      else this.#staging.push(staging);
      const params = Array.from(new Uint32Array(bytes, SLOTS_BYTES, paramBytes / 4));
      // The slot this step wrote; a step whose commands did not run wrote neither.
      return [readSlot(bytes, 0, params), readSlot(bytes, 1, params)].find(
        (s) => s.epoch === plan.epoch && s.serial === plan.serial,
      );
    });
  }

  dispose(): void {
    this.#disposed = true;
    this.#release();
  }

  #release(): void {
    this.#control?.destroy();
    this.#control = undefined;
    for (const buffer of this.#staging) buffer.destroy();
    this.#staging = [];
    this.#scale?.dispose();
    this.#scale = undefined;
  }
}

const phasesOf = (device: GPUDevice): Pick<SkipPlan, 'layout' | 'phases'> => {
  const { layout, ratios, totals, apply } = skipPipelinesFor(device);
  return { layout, phases: [ratios, totals, apply] };
};
