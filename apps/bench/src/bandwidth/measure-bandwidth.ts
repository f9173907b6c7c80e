import { Worker } from 'node:worker_threads';
import { STREAM_MAXIMUM_PAGES, STREAM_WASM_BASE64 } from '../../generated/stream-wasm.js';
import { streamOps } from './stream-ops.js';

export type StreamOp = 'js-copy' | 'js-triad' | 'js-axpy' | 'wasm-copy' | 'wasm-triad' | 'wasm-axpy';
const OPS: readonly StreamOp[] = ['js-copy', 'js-triad', 'js-axpy', 'wasm-copy', 'wasm-triad', 'wasm-axpy'];

/** One STREAM measurement: the best of `reps` runs, STREAM's convention (no write-allocate traffic). */
export interface BandwidthResult {
  op: StreamOp;
  threads: number;
  gbPerSec: number;
  /** Bytes counted per element: copy reads 4 and writes 4, triad and axpy read 8 and write 4. */
  bytesPerElement: number;
}

export interface BandwidthOptions {
  /** Elements per array (three arrays); bigger than the last-level cache for a memory bound. */
  floats: number;
  reps: number;
  threadCounts: readonly number[];
}

const BASE = 65536;
const PAGE = 65536;

/**
 * Bytes counted per element of `op`, STREAM's way: what the code reads and writes. copy and triad
 * also pay a write-allocate read of the destination that STREAM does not count (so their figure
 * is below what the bus moved); axpy writes in place, so its count is the real traffic.
 */
export function streamBytesPerElement(op: StreamOp): number {
  return op.endsWith('copy') ? 8 : 12;
}

// The worker receives streamOps as source and answers each op name once it has run it.
const WORKER_SOURCE = `
const { parentPort, workerData: d } = require('node:worker_threads');
const ops = (${streamOps.toString()})(d.memory, d.module, d.offsets, d.start, d.count);
parentPort.on('message', (op) => { ops[op](); parentPort.postMessage(op); });
`;

/** A worker running streamOps on its slice; `run` resolves once it has run the op. */
function sliceWorker(workerData: object): { run(op: StreamOp): Promise<void>; terminate(): Promise<number> } {
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData });
  let pending: { resolve(): void; reject(error: unknown): void } | undefined;
  worker.on('message', () => pending?.resolve());
  worker.on('error', (error) => pending?.reject(error));
  return {
    run: (op) =>
      new Promise<void>((resolve, reject) => {
        pending = { resolve, reject };
        worker.postMessage(op);
      }),
    terminate: () => worker.terminate(),
  };
}

/**
 * Measures copy, triad and axpy bandwidth in JS loops and the SIMD WASM module, on this thread and on N
 * worker threads sharing one WebAssembly memory (each streaming its own slice). Workers are
 * terminated before it returns.
 */
export async function measureBandwidth(options: BandwidthOptions): Promise<BandwidthResult[]> {
  const floats = Math.ceil(options.floats / 64) * 64;
  const pages = Math.ceil((BASE + 12 * floats) / PAGE);
  if (pages > STREAM_MAXIMUM_PAGES) throw new Error(`${floats} floats per array exceed the module's memory limit`);
  const memory = new WebAssembly.Memory({ initial: pages, maximum: STREAM_MAXIMUM_PAGES, shared: true });
  const module = new WebAssembly.Module(Uint8Array.from(atob(STREAM_WASM_BASE64), (c) => c.charCodeAt(0)));
  const offsets = { a: BASE, b: BASE + 4 * floats, c: BASE + 8 * floats };
  // Touch every page first so no run pays for page faults.
  new Float32Array(memory.buffer, BASE, 3 * floats).fill(1);
  const results: BandwidthResult[] = [];
  for (const threads of options.threadCounts) {
    const slice = floats / threads;
    const workers =
      threads === 1
        ? []
        : Array.from({ length: threads }, (_, t) => sliceWorker({ memory, module, offsets, start: t * slice, count: slice }));
    const local = threads === 1 ? streamOps(memory, module, offsets, 0, floats) : undefined;
    try {
      for (const op of OPS) {
        let best = Number.POSITIVE_INFINITY;
        // One untimed run warms the JIT, the caches' state and the workers.
        for (let rep = 0; rep <= options.reps; rep++) {
          const started = performance.now();
          if (local) local[op]();
          else await Promise.all(workers.map((w) => w.run(op)));
          const ms = performance.now() - started;
          if (rep > 0) best = Math.min(best, ms);
        }
        const bytesPerElement = streamBytesPerElement(op);
        results.push({ op, threads, bytesPerElement, gbPerSec: (bytesPerElement * floats) / (best * 1e6) });
      }
    } finally {
      await Promise.all(workers.map((w) => w.terminate()));
    }
  }
  return results;
}

/**
 * The best figure per op and thread count over several measurements (the bench measures before and
 * after the Node rows, so a burst of other load on the machine does not lower the bound).
 */
export function bestOf(...runs: readonly (readonly BandwidthResult[])[]): BandwidthResult[] {
  const best = new Map<string, BandwidthResult>();
  for (const r of runs.flat()) {
    const key = `${r.op}/${r.threads}`;
    if ((best.get(key)?.gbPerSec ?? -1) < r.gbPerSec) best.set(key, r);
  }
  return [...best.values()];
}

/**
 * The bandwidth bound for `threads`: the best in-place axpy (JS or WASM) at that thread count. The
 * optimizer writes only arrays it has just read (m, v, p, k), like axpy, so no write-allocate
 * traffic hides in either figure; triad's would undercount the bus by a third.
 */
export function bandwidthBound(results: readonly BandwidthResult[], threads: number): number | undefined {
  const axpys = results.filter((r) => r.threads === threads && r.op.endsWith('axpy')).map((r) => r.gbPerSec);
  return axpys.length > 0 ? Math.max(...axpys) : undefined;
}
