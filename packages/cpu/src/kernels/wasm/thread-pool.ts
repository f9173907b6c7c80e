import { UnsupportedBackendError } from '@stable-adamw/core';
import { COMMAND, CONTROL, CONTROL_WORDS, type Command } from './layout.js';
import { WORKER_SOURCE } from './worker-source.js';

interface WorkerHandle {
  /** Resolves once the worker has instantiated the kernel; rejects if it could not. */
  ready: Promise<void>;
  /** Node: whether the worker keeps the process alive (only while a phase runs: waitAsync does not). */
  keepAlive(on: boolean): void;
  terminate(): Promise<void>;
}

interface Setup {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  control: number;
  threads: number;
}

function readiness(message: unknown): Error | undefined {
  if (message === 'ready') return undefined;
  return new UnsupportedBackendError(
    `A kernel worker failed to start: ${String((message as { error?: unknown })?.error ?? message)}`,
    'Run with threads: 1, or in an environment with WebAssembly SIMD and shared memory.',
  );
}

/** Called when a started worker dies on its own (an error, or an exit not asked for). */
type OnDeath = (error: Error) => void;

function deathError(detail: string): Error {
  return new UnsupportedBackendError(`A kernel worker died: ${detail}`, 'Create a new ParamBuffer, or use threads: 1.');
}

async function spawnNode(setup: Setup, onDeath: OnDeath): Promise<WorkerHandle> {
  // A variable specifier keeps browser bundlers from resolving a Node built-in.
  const specifier = 'node:worker_threads';
  const { Worker } = (await import(/* @vite-ignore */ specifier)) as typeof import('node:worker_threads');
  const worker = new Worker(WORKER_SOURCE, { eval: true });
  worker.unref();
  const ready = new Promise<void>((resolve, reject) => {
    worker.once('message', (message) => {
      const error = readiness(message);
      if (error) reject(error);
      else resolve();
    });
    worker.once('error', reject);
    worker.once('exit', (code) => reject(deathError(`exit code ${code} before it started`)));
  });
  let stopping = false;
  worker.on('error', (error) => onDeath(deathError(String(error))));
  worker.on('exit', (code) => {
    if (!stopping) onDeath(deathError(`exit code ${code}`));
  });
  worker.postMessage(setup);
  return {
    ready,
    keepAlive: (on) => (on ? worker.ref() : worker.unref()),
    terminate: async () => {
      stopping = true;
      await worker.terminate();
    },
  };
}

function spawnBrowser(setup: Setup, onDeath: OnDeath): WorkerHandle {
  const url = URL.createObjectURL(new Blob([WORKER_SOURCE], { type: 'text/javascript' }));
  const worker = new Worker(url);
  let started = false;
  const ready = new Promise<void>((resolve, reject) => {
    worker.onmessage = (event) => {
      URL.revokeObjectURL(url);
      const error = readiness(event.data);
      started = !error;
      if (error) reject(error);
      else resolve();
    };
    worker.onerror = (event) => {
      const error = started ? deathError(event.message) : new Error(event.message);
      if (started) onDeath(error);
      else reject(error);
    };
  });
  worker.postMessage(setup);
  return { ready, keepAlive: () => undefined, terminate: async () => worker.terminate() };
}

const isNode = typeof process === 'object' && typeof process.versions?.node === 'string';

const WAIT_SLICE_MS = 50;

type WaitAsync = (
  array: Int32Array,
  index: number,
  value: number,
  timeout: number,
) => { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<'ok' | 'timed-out'> };

/**
 * Resolves once `control[index]` equals `target`, without blocking the calling thread; rejects
 * with `failure()` once that returns an error.
 */
async function waitFor(control: Int32Array, index: number, target: number, failure: () => Error | undefined): Promise<void> {
  const waitAsync = (Atomics as unknown as { waitAsync?: WaitAsync }).waitAsync;
  for (let seen = Atomics.load(control, index); seen !== target; seen = Atomics.load(control, index)) {
    const error = failure();
    if (error) throw error;
    if (waitAsync) {
      // Bounded, so that a wakeup the runtime fails to deliver costs a retry rather than a hang.
      const result = waitAsync(control, index, seen, WAIT_SLICE_MS);
      if (result.async) await result.value;
    } else {
      // No Atomics.waitAsync (older Firefox): poll through the event loop.
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
  }
}

/**
 * Worker threads sharing one kernel module and one shared memory. Each `run` starts a phase over
 * a block table already written to the memory and resolves when every worker is done with it.
 */
export class ThreadPool {
  readonly #control: Int32Array;
  readonly #workers: WorkerHandle[] = [];
  #failure: Error | undefined;

  private constructor(control: Int32Array) {
    this.#control = control;
  }

  /** A dead worker fails the running phase and every later one (its blocks would never be done). */
  #die(error: Error): void {
    this.#failure ??= error;
    Atomics.store(this.#control, CONTROL.done, -1);
    Atomics.notify(this.#control, CONTROL.done);
  }

  /** Starts `threads` workers; `control` is the byte offset of the control block in `memory`. */
  static async start(
    module: WebAssembly.Module,
    memory: WebAssembly.Memory,
    control: number,
    threads: number,
  ): Promise<ThreadPool> {
    const setup: Setup = { module, memory, control, threads };
    const pool = new ThreadPool(new Int32Array(memory.buffer, control, CONTROL_WORDS));
    const onDeath = (error: Error) => pool.#die(error);
    for (let i = 0; i < threads; i++) pool.#workers.push(isNode ? await spawnNode(setup, onDeath) : spawnBrowser(setup, onDeath));
    try {
      await Promise.all(pool.#workers.map((w) => w.ready));
    } catch (error) {
      await pool.terminate();
      throw error;
    }
    return pool;
  }

  get size(): number {
    return this.#workers.length;
  }

  /** Runs `command` over blocks [0, blockCount) of the tables at the given byte offsets. */
  async run(command: Command, blockCount: number, table: number, blocks: number, partials: number): Promise<void> {
    if (this.#failure) throw this.#failure;
    const c = this.#control;
    c[CONTROL.command] = command;
    c[CONTROL.blockCount] = blockCount;
    c[CONTROL.table] = table;
    c[CONTROL.blocks] = blocks;
    c[CONTROL.partials] = partials;
    Atomics.store(c, CONTROL.next, 0);
    Atomics.store(c, CONTROL.done, 0);
    Atomics.add(c, CONTROL.generation, 1);
    Atomics.notify(c, CONTROL.generation);
    for (const worker of this.#workers) worker.keepAlive(true);
    try {
      await waitFor(c, CONTROL.done, this.#workers.length, () => this.#failure);
    } finally {
      for (const worker of this.#workers) worker.keepAlive(false);
    }
  }

  /** Stops every worker and waits until they are gone. */
  async terminate(): Promise<void> {
    const c = this.#control;
    Atomics.store(c, CONTROL.command, COMMAND.stop);
    Atomics.add(c, CONTROL.generation, 1);
    Atomics.notify(c, CONTROL.generation);
    await Promise.all(this.#workers.map((w) => w.terminate()));
    this.#workers.length = 0;
  }
}
