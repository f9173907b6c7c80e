import { getHeapStatistics } from 'node:v8';
import { StableAdamW } from '@stable-adamw/cpu';
import { summarize } from '../stats.js';
import { HYPER } from '../subjects/scalar-js.js';
import { seededValues } from '../subjects/values.js';

/**
 * Issue #16 item 5: how fast optimizer state moves through `saveCheckpoint` / `loadCheckpoint`
 * (safetensors, cpu adapter, optimi layout) against a plain copy of the same bytes and against the
 * JSON path (`JSON.stringify(stateDict())`, `loadStateDict(JSON.parse(…))`).
 */

export type CheckpointOp = 'safetensors-save' | 'safetensors-load' | 'json-save' | 'json-load' | 'copy';

export interface CheckpointResult {
  op: CheckpointOp;
  /** Parameters of the optimizer (8 float32 tensors); the copy moves the same state bytes. */
  params: number;
  /** exp_avg and exp_avg_sq as float32: 8 B per param. */
  stateBytes: number;
  /** The safetensors file or the JSON text (ASCII: one byte per character); the copy's bytes. */
  encodedBytes: number;
  medianMs: number;
  reps: number;
  /** stateBytes ÷ the median time, in 10^6 B/s. */
  mbPerSec: number;
  /** mbPerSec ÷ the copy's at the same size (1: as fast as copying the bytes). */
  vsCopy?: number;
}

export interface CheckpointSizes {
  /** Params of the safetensors and copy measurement (64M: 512 MiB of state). */
  params: number;
  /** Params of the JSON measurement (and a safetensors one of the same size beside it). */
  jsonParams: number;
  /** Timed repetitions at `params` and at `jsonParams` (with more than one, an untimed run goes first). */
  reps: number;
  jsonReps: number;
}

const TENSORS = 8;
const STATE_BYTES_PER_PARAM = 8;
// Heap the JSON-array state dict behind saveCheckpoint needs per param (measured at 64M: ~48 B), with margin.
const HEAP_BYTES_PER_PARAM = 64;

/**
 * Sizes for this run: 64M params (JSON: 8M, since a state dict's JSON text is ~40 B per param and
 * V8 strings stop at 2^29 characters), halved until the state dict fits in `heapLimitBytes`;
 * `quick` uses 256k and 64k.
 */
export function checkpointSizes(quick: boolean, heapLimitBytes: number): CheckpointSizes {
  if (quick) return { params: 256 << 10, jsonParams: 64 << 10, reps: 2, jsonReps: 2 };
  let params = 64 << 20;
  while (params > 8 << 20 && params * HEAP_BYTES_PER_PARAM > heapLimitBytes) params /= 2;
  // 64M steps take a minute or more each on the current path: one timed repetition there.
  return { params, jsonParams: Math.min(params, 8 << 20), reps: params >= 32 << 20 ? 1 : 3, jsonReps: 3 };
}

/** 10^6 bytes per second from bytes and milliseconds. */
export function mbPerSec(bytes: number, ms: number): number {
  return bytes / 1e3 / ms;
}

/** Median ms of `reps` runs, after one untimed run when there are several (one-off compilation). */
async function timed(reps: number, run: () => unknown): Promise<number> {
  if (reps > 1) await run();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const started = performance.now();
    await run();
    times.push(performance.now() - started);
  }
  return summarize(times).medianMs;
}

function result(op: CheckpointOp, params: number, encodedBytes: number, medianMs: number, reps: number): CheckpointResult {
  const stateBytes = params * STATE_BYTES_PER_PARAM;
  return { op, params, stateBytes, encodedBytes, medianMs, reps, mbPerSec: mbPerSec(stateBytes, medianMs) };
}

/** `Uint8Array.set` of the state's bytes into an array already in memory: the memory-copy bound. */
async function measureCopy(params: number, reps: number): Promise<CheckpointResult> {
  const bytes = params * STATE_BYTES_PER_PARAM;
  const source = new Uint8Array(bytes).fill(1);
  const target = new Uint8Array(bytes);
  // timed() runs it once untimed first (reps ≥ 3 here): the target's pages are mapped before timing.
  const ms = await timed(reps, () => target.set(source));
  return result('copy', params, bytes, ms, reps);
}

/** A cpu-adapter optimizer over 8 float32 tensors with state (one step taken). */
async function optimizerWithState(params: number): Promise<StableAdamW> {
  const tensors = Array.from({ length: TENSORS }, (_, i) => ({
    data: seededValues(params / TENSORS, 2 * i + 1, 1),
    grad: seededValues(params / TENSORS, 2 * i + 2, 1e-2),
  }));
  const { lr, beta1, beta2, eps, weightDecay } = HYPER;
  const optimizer = new StableAdamW(tensors, { lr, betas: [beta1, beta2], eps, weightDecay });
  await optimizer.step();
  return optimizer;
}

async function measureSafetensors(params: number, reps: number): Promise<CheckpointResult[]> {
  const optimizer = await optimizerWithState(params);
  try {
    let bytes: Uint8Array = new Uint8Array(0);
    const saveMs = await timed(reps, async () => {
      bytes = await optimizer.saveCheckpoint({ layout: 'optimi' });
    });
    const loadMs = await timed(reps, () => optimizer.loadCheckpoint(bytes, { layout: 'optimi' }));
    return [
      result('safetensors-save', params, bytes.length, saveMs, reps),
      result('safetensors-load', params, bytes.length, loadMs, reps),
    ];
  } finally {
    optimizer.dispose();
  }
}

async function measureJson(params: number, reps: number): Promise<CheckpointResult[]> {
  const optimizer = await optimizerWithState(params);
  try {
    let text = '';
    const saveMs = await timed(reps, async () => {
      text = JSON.stringify(await optimizer.stateDict());
    });
    const loadMs = await timed(reps, () => optimizer.loadStateDict(JSON.parse(text)));
    return [result('json-save', params, text.length, saveMs, reps), result('json-load', params, text.length, loadMs, reps)];
  } finally {
    optimizer.dispose();
  }
}

/** Adds `vsCopy` to every result: its MB/s ÷ the copy's at the same size. */
export function relativeToCopy(results: readonly CheckpointResult[]): CheckpointResult[] {
  return results.map((r) => {
    const copy = results.find((c) => c.op === 'copy' && c.params === r.params);
    return copy && r.op !== 'copy' ? { ...r, vsCopy: r.mbPerSec / copy.mbPerSec } : { ...r };
  });
}

/**
 * Measures the copy, safetensors save and load at `params`, and the JSON path with safetensors and
 * the copy beside it at `jsonParams`; one optimizer at a time, freed before the next.
 */
export async function measureCheckpoints(
  sizes: CheckpointSizes = checkpointSizes(false, getHeapStatistics().heap_size_limit),
): Promise<CheckpointResult[]> {
  const results: CheckpointResult[] = [];
  results.push(await measureCopy(sizes.params, Math.max(sizes.reps, 3)));
  results.push(...(await measureSafetensors(sizes.params, sizes.reps)));
  if (sizes.jsonParams !== sizes.params) {
    results.push(await measureCopy(sizes.jsonParams, Math.max(sizes.jsonReps, 3)));
    results.push(...(await measureSafetensors(sizes.jsonParams, sizes.jsonReps)));
  }
  results.push(...(await measureJson(sizes.jsonParams, sizes.jsonReps)));
  return relativeToCopy(results);
}
