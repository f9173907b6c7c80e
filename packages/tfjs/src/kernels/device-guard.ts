/// <reference types="@webgpu/types" />
import { DeviceError } from '@stable-adamw/core';
import * as tf from '@tensorflow/tfjs-core';
import { activeWebGPU, type WebGPUBackendLike } from './webgpu-multi-tensor.js';

/** The optimizer's counters before a step: how errors name the step, and how to go back to them. */
export interface StepCounters {
  /** The step as users count it, e.g. `step 3 (iterations 2 → 3)`. */
  readonly label: string;
  /** Puts the counters back to their values before the step. */
  restore(): void;
}

const SCOPES: readonly GPUErrorFilter[] = ['validation', 'out-of-memory', 'internal'];

const FIX =
  'dispose() this optimizer and build a new one (loadStateDict a state saved before the failure to resume); ' +
  "if it recurs, look for a variable or gradient whose GPU buffer was freed behind tfjs's back, or use kernel: 'composed'.";

/** A device message (Dawn's span several lines) on one line. */
const oneLine = (message: string) => message.replace(/\s+/g, ' ').trim();

/** The part of tfjs-backend-webgpu's backend the guard drives. */
export type GuardedBackend = Pick<WebGPUBackendLike, 'device' | 'commandEncoder' | 'endComputePassEncoder' | 'submitQueue'>;

/** The device of the active tfjs backend as the guard watches it: a WebGPU backend or a WebGL context. */
export type GuardedDevice =
  | { readonly webgpu: GuardedBackend }
  | { readonly webgl: Pick<WebGLRenderingContext, 'isContextLost'> };

/** The active backend's device, or undefined on backends without one (cpu, wasm, tensorflow). */
export function activeDevice(): GuardedDevice | undefined {
  const webgpu = activeWebGPU();
  if (webgpu) return { webgpu };
  if (tf.getBackend() !== 'webgl') return undefined;
  const gl = (tf.backend() as { gpgpu?: { gl?: WebGLRenderingContext } }).gpgpu?.gl;
  return gl ? { webgl: gl } : undefined;
}

/**
 * Submits the commands tfjs-backend-webgpu has recorded and not yet submitted (it submits every
 * `WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE` dispatches, or at a readback): errors of a submit are
 * reported to the error scopes current at the submit, not at the recording.
 */
function flush(backend: GuardedBackend): void {
  if (!backend.commandEncoder) return;
  backend.endComputePassEncoder();
  backend.submitQueue();
}

/**
 * Puts the optimizer in a defined state when its device fails. WebGL: a lost context, checked
 * before and after each step (`isContextLost()`, no readback); found before, the step is refused;
 * found after, the step's counters are rolled back and it throws.
 * WebGPU: catches errors that arrive after a step was submitted — validation, out-of-memory and
 * internal errors of the step's commands (error scopes, popped asynchronously: nothing is read back
 * and nothing waits) and the loss of the device (`device.lost`) — and puts the optimizer in a
 * defined state: `check()` throws a `DeviceError` naming the step and the cause from
 * then on, and the counters are rolled back to before the failed step (for a lost device, to before
 * the first step the queue had not confirmed as done). One guard per optimizer.
 *
 * A step's scopes hold exactly its own commands: what tfjs queued before it is submitted before the
 * scopes are pushed (its errors are not the step's), and what the step queued without submitting
 * (tfjs ops of the composed path) is submitted inside them.
 */
export class DeviceGuard {
  #failure: DeviceError | undefined;
  /** Steps submitted and not yet confirmed by `onSubmittedWorkDone`, oldest first. */
  #pending: StepCounters[] = [];
  readonly #watched = new WeakSet<GPUDevice>();
  #disposed = false;

  /** Throws the recorded device failure, if there is one. */
  check(): void {
    if (this.#failure) throw this.#failure;
  }

  /**
   * Runs `run` (one optimizer step, or one `stepParam`) guarded on the active device; `snapshot`
   * takes the optimizer's counters before it (only where there is a device: it copies every
   * per-param counter, work the cpu and wasm backends' hot path does not need). WebGPU: inside error scopes, submitting what it
   * recorded. WebGL: between two context-loss checks. Without a device (cpu, wasm), as is.
   */
  step<T>(guarded: GuardedDevice | undefined, snapshot: () => StepCounters, run: () => T): T {
    this.check();
    if (!guarded) return run();
    const counters = snapshot();
    if ('webgl' in guarded) return this.#stepWebGL(guarded.webgl, counters, run);
    const backend = guarded.webgpu;
    const { device } = backend;
    this.#watch(device);
    flush(backend);
    for (const filter of SCOPES) device.pushErrorScope(filter);
    let result: T;
    try {
      result = run();
      flush(backend);
    } finally {
      // Popped in reverse push order: the innermost scope is the last pushed.
      const errors = SCOPES.map(() => device.popErrorScope()).reverse();
      for (const [k, popped] of errors.entries()) {
        popped.then(
          (error) => {
            if (error) this.#fail(counters, `a ${SCOPES[k]} error (${oneLine(error.message)})`);
          },
          () => undefined,
        );
      }
    }
    this.#pending.push(counters);
    device.queue.onSubmittedWorkDone().then(
      () => this.#confirm(counters),
      () => undefined,
    );
    return result;
  }

  #stepWebGL<T>(gl: Pick<WebGLRenderingContext, 'isContextLost'>, counters: StepCounters, run: () => T): T {
    const lost = () => {
      // Before the step, restoring the counters taken before it changes nothing.
      this.#fail(counters, 'the loss of the WebGL context (its textures, params and moments included, are gone)');
      this.check();
    };
    if (gl.isContextLost()) lost();
    const result = run();
    if (gl.isContextLost()) lost();
    return result;
  }

  /** Stops reacting to the device (the optimizer's state is being freed); later calls meet core's disposed error. */
  dispose(): void {
    this.#disposed = true;
    this.#failure = undefined;
    this.#pending = [];
  }

  #watch(device: GPUDevice): void {
    if (this.#watched.has(device)) return;
    this.#watched.add(device);
    device.lost.then(
      (info) => {
        const first = this.#pending[0];
        this.#fail(first, `the loss of the WebGPU device (${info.reason}: ${oneLine(info.message) || 'no message'})`);
      },
      () => undefined,
    );
  }

  #confirm(pending: StepCounters): void {
    // The queue finishes submissions in order: everything up to this one is done.
    const at = this.#pending.indexOf(pending);
    if (at >= 0) this.#pending.splice(0, at + 1);
  }

  /** Records the first failure; `at` is the oldest step it may have undone (none: every step was confirmed). */
  #fail(at: StepCounters | undefined, cause: string): void {
    if (this.#failure || this.#disposed) return;
    at?.restore();
    const where = at ? `${at.label}, so the counters were rolled back to before it` : 'after its last confirmed step';
    this.#failure = new DeviceError(
      `StableAdamW's device step failed with ${cause} at ${where}; params and moments on the device are undefined from there on, and this optimizer refuses further steps and state reads`,
      FIX,
    );
    this.#pending = [];
  }
}
