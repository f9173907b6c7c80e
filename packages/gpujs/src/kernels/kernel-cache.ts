import type { MaybePromise } from '@stable-adamw/core';
import type { GPU, IKernelRunShortcut } from 'gpu.js';
import { type KernelClass, modeOfKernelClass } from '../device.js';

/**
 * Settings of every optimizer kernel: results stay on the device (`pipeline`) in fresh tensors
 * (`immutable`), float32 throughout (`precision`, `tactic`).
 */
export const KERNEL_SETTINGS = { pipeline: true, immutable: true, precision: 'single', tactic: 'precision' } as const;

/** A WebGL context, or gpu.js's `{ device, isLost }` pair on WebGPU. */
interface DeviceContext {
  readonly isLost?: boolean;
  isContextLost?(): boolean;
}

type Launch = (...args: unknown[]) => MaybePromise<unknown>;

/**
 * The optimizer's compiled kernels on one gpu.js instance, compiled on first use per key (kernel
 * and tensor length) and counted per launch for diagnostics.
 */
export class KernelCache {
  readonly gpu: GPU;
  /** Kernel launches since construction. */
  launches = 0;
  readonly #kernels = new Map<string, IKernelRunShortcut>();

  constructor(gpu: GPU) {
    this.gpu = gpu;
  }

  /** Runs the kernel cached under `key`, compiling it with `create` the first time. */
  launch(key: string, create: (gpu: GPU) => IKernelRunShortcut, ...args: unknown[]): MaybePromise<unknown> {
    let kernel = this.#kernels.get(key);
    if (!kernel) {
      kernel = create(this.gpu);
      this.#kernels.set(key, kernel);
    }
    this.launches += 1;
    return (kernel as unknown as Launch)(...args);
  }

  /** Number of compiled kernels. */
  get size(): number {
    return this.#kernels.size;
  }

  /** The gpu.js kernel classes that actually ran (e.g. `['webgl2']`), to catch silent fallbacks. */
  get executedModes(): string[] {
    const modes = new Set<string>();
    for (const k of this.#kernels.values()) {
      const inner = (k as unknown as { kernel?: { constructor: KernelClass } }).kernel;
      if (inner) modes.add(modeOfKernelClass(inner.constructor));
    }
    return [...modes].sort();
  }

  /** Why the device the kernels were built on can run nothing more (lost WebGL context or WebGPU device), or undefined. */
  get lostDevice(): string | undefined {
    for (const k of this.#kernels.values()) {
      const context = (k as unknown as { kernel?: { context?: DeviceContext | null } }).kernel?.context;
      if (!context) continue;
      if (context.isLost) return 'its WebGPU device was lost';
      if (typeof context.isContextLost === 'function' && context.isContextLost()) return 'its WebGL context was lost';
      return undefined;
    }
    return undefined;
  }

  /** Destroys the kernels whose keys `matches` (those of one tensor's own). */
  destroyWhere(matches: (key: string) => boolean): void {
    for (const [key, kernel] of this.#kernels) {
      if (!matches(key)) continue;
      kernel.destroy();
      this.#kernels.delete(key);
    }
  }

  /** Destroys every compiled kernel (the GPU instance itself belongs to the caller). */
  destroy(): void {
    for (const kernel of this.#kernels.values()) kernel.destroy();
    this.#kernels.clear();
  }
}
