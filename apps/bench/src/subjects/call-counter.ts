import type { DispatchSample, DispatchUnit } from '../dispatches.js';

/** A method to count: `owner` is a global constructor's name (e.g. `GPUQueue`), the method is on its prototype. */
interface CountedMethod {
  owner: string;
  method: string;
  /** Which total a call adds to. */
  key: 'dispatches' | 'submits';
}

/** Every way a WebGPU compute pass runs work, and the queue submits that send it. */
const WEBGPU_METHODS: readonly CountedMethod[] = [
  { owner: 'GPUComputePassEncoder', method: 'dispatchWorkgroups', key: 'dispatches' },
  { owner: 'GPUComputePassEncoder', method: 'dispatchWorkgroupsIndirect', key: 'dispatches' },
  { owner: 'GPUQueue', method: 'submit', key: 'submits' },
];

/** Every WebGL draw call (tfjs runs each program as one `drawElements`). */
const WEBGL_METHODS: readonly CountedMethod[] = ['WebGLRenderingContext', 'WebGL2RenderingContext'].flatMap((owner) =>
  ['drawArrays', 'drawElements', 'drawArraysInstanced', 'drawElementsInstanced', 'drawRangeElements'].map((method) => ({
    owner,
    method,
    key: 'dispatches' as const,
  })),
);

/** Counts calls of GPU methods from install until `uninstall()`; `take()` returns the counts so far and restarts them. */
export interface CallCounter {
  take(): DispatchSample;
  uninstall(): void;
}

/**
 * Wraps the prototype methods of `unit`'s API (those the environment has) with counting ones; the
 * originals come back on `uninstall()`. Counts every caller on the page: call it while only the
 * measured work runs.
 */
export function countCalls(unit: Exclude<DispatchUnit, 'gpujs-launch'>, scope: object = globalThis): CallCounter {
  const methods = unit === 'webgpu-dispatch' ? WEBGPU_METHODS : WEBGL_METHODS;
  const totals = { dispatches: 0, submits: 0 };
  const restore: (() => void)[] = [];
  for (const { owner, method, key } of methods) {
    const proto = (scope as Record<string, { prototype?: Record<string, unknown> } | undefined>)[owner]?.prototype;
    const original = proto?.[method];
    if (!proto || typeof original !== 'function' || !Object.hasOwn(proto, method)) continue;
    proto[method] = function counted(this: unknown, ...args: unknown[]) {
      totals[key] += 1;
      return original.apply(this, args);
    };
    restore.push(() => {
      proto[method] = original;
    });
  }
  return {
    take() {
      const sample: DispatchSample = {
        unit,
        dispatches: totals.dispatches,
        ...(unit === 'webgpu-dispatch' ? { submits: totals.submits } : {}),
      };
      totals.dispatches = 0;
      totals.submits = 0;
      return sample;
    },
    uninstall() {
      for (const fn of restore.splice(0).reverse()) fn();
    },
  };
}
