import * as tf from '@tensorflow/tfjs-core';

/** Peak memory while a function ran, relative to its start. */
export interface PeakBytes {
  /** Highest sum of the sizes of live data buffers (each buffer once, however many tensors view it). */
  buffers: number;
  /** Highest `tf.memory().numBytes` (counts a buffer once per tensor viewing it, e.g. reshapes and clones). */
  numBytes: number;
}

type BufferInfo = { bytes: number };
type BufferTable = WeakMap<object, BufferInfo>;

/**
 * Runs `fn` and returns the peaks of the engine's memory counters while it ran. Every change is
 * observed (the byte counter and the engine's buffer table are watched), so no peak is missed.
 */
export async function peakBytesDuring(fn: () => unknown): Promise<PeakBytes> {
  const state = tf.engine().state as unknown as { numBytes: number; tensorInfo: BufferTable };
  const table = state.tensorInfo;
  let numBytes = state.numBytes;
  let buffers = 0;
  const peak = { numBytes: 0, buffers: 0 };
  const startNumBytes = numBytes;
  Object.defineProperty(state, 'numBytes', {
    configurable: true,
    enumerable: true,
    get: () => numBytes,
    set: (value: number) => {
      numBytes = value;
      peak.numBytes = Math.max(peak.numBytes, value - startNumBytes);
    },
  });
  Object.defineProperties(table, {
    set: {
      configurable: true,
      value: (dataId: object, info: BufferInfo) => {
        if (!WeakMap.prototype.has.call(table, dataId)) {
          buffers += info.bytes;
          peak.buffers = Math.max(peak.buffers, buffers);
        }
        return WeakMap.prototype.set.call(table, dataId, info);
      },
    },
    delete: {
      configurable: true,
      value: (dataId: object) => {
        const info = WeakMap.prototype.get.call(table, dataId) as BufferInfo | undefined;
        if (info) buffers -= info.bytes;
        return WeakMap.prototype.delete.call(table, dataId);
      },
    },
  });
  try {
    await fn();
  } finally {
    Object.defineProperty(state, 'numBytes', { configurable: true, enumerable: true, writable: true, value: numBytes });
    Reflect.deleteProperty(table, 'set');
    Reflect.deleteProperty(table, 'delete');
  }
  return peak;
}
