import type { BenchDtype } from './bytes.js';
import { type DispatchSample, summarizeDispatches } from './dispatches.js';
import type { BenchRow, PeakMemory } from './row.js';
import { paramCount, type Shape } from './shapes.js';
import { summarize } from './stats.js';
import { type BenchSubject, deviceLimitSkip, SkipRow } from './subjects/subject.js';

/** Runs in Node and in the browser bundle: no Node-only imports here. */
export interface MeasureOptions {
  warmup: number;
  steps: number;
  environment: 'node' | 'chromium';
  /** Host memory now (RSS in Node, JS heap in Chromium). */
  hostMemory(): Pick<PeakMemory, 'rssBytes' | 'jsHeapBytes'>;
}

function keepPeak(peak: PeakMemory, sample: PeakMemory): void {
  const record = peak as Record<string, number | undefined>;
  for (const [key, value] of Object.entries(sample)) {
    if (value !== undefined) record[key] = Math.max(record[key] ?? value, value);
  }
}

/** Why this subject does not run `shape` × `dtype`, or undefined when it does. */
export function skipReason(subject: BenchSubject, shape: Shape, dtype: BenchDtype): string | undefined {
  if (!subject.dtypes.includes(dtype)) return `n/a: ${subject.dtypeNote ?? `${dtype} unsupported`}`;
  if (shape.cpuOnly && !subject.cpuShapes) return `the ${shape.name} shape is measured on the typed-array backends only`;
  if (shape.dtypes && !shape.dtypes.includes(dtype)) return `the ${shape.name} shape is ${shape.dtypes.join(', ')} only`;
  return subject.limit?.(paramCount(shape), dtype);
}

/** The row's identity, before anything ran (status `ok`). */
export function baseRow(subject: BenchSubject, shape: Shape, dtype: BenchDtype, environment: BenchRow['environment']): BenchRow {
  return {
    subject: subject.id,
    backend: subject.backend,
    implementation: subject.implementation,
    algorithm: subject.algorithm,
    environment,
    threads: subject.threads,
    shape: shape.name,
    dtype,
    params: paramCount(shape),
    tensors: shape.tensors.length,
    status: 'ok',
    ...(subject.note ? { note: subject.note } : {}),
  };
}

/**
 * Times one row: opens the subject on the shape, runs `warmup` untimed steps, then `steps` timed
 * ones (each until its work is complete), sampling memory after every step, and closes it. A
 * failure becomes a failed row, a {@link SkipRow} a skipped one.
 */
export async function measureRow(
  subject: BenchSubject,
  shape: Shape,
  dtype: BenchDtype,
  options: MeasureOptions,
): Promise<BenchRow> {
  const row = baseRow(subject, shape, dtype, options.environment);
  const skip = skipReason(subject, shape, dtype);
  if (skip) return { ...row, status: 'skipped', reason: skip };
  let stepper: Awaited<ReturnType<BenchSubject['open']>> | undefined;
  try {
    stepper = await subject.open(shape.tensors, dtype);
    const peak: PeakMemory = {};
    const sample = () => keepPeak(peak, { ...options.hostMemory(), ...stepper?.memory() });
    sample();
    for (let i = 0; i < options.warmup; i++) {
      await stepper.step();
      sample();
    }
    const times: number[] = [];
    const dispatches: DispatchSample[] = [];
    for (let i = 0; i < options.steps; i++) {
      const started = performance.now();
      await stepper.step();
      const wall = performance.now() - started;
      times.push(stepper.lastStepMs?.() ?? wall);
      const counted = stepper.dispatches?.();
      if (counted) dispatches.push(counted);
      sample();
    }
    const closing = stepper;
    stepper = undefined;
    const { leakedTensors } = await closing.close();
    return {
      ...row,
      ...(closing.detail ? { detail: closing.detail } : {}),
      ...(closing.kernelPath ? { kernelPath: closing.kernelPath } : {}),
      ...summarizeDispatches(dispatches),
      warmup: options.warmup,
      timing: summarize(times),
      memory: peak,
      ...(leakedTensors !== undefined ? { leakedTensors } : {}),
    };
  } catch (error) {
    await stepper?.close();
    const cause = deviceLimitSkip(error);
    const reason = cause instanceof Error ? cause.message : String(cause);
    return { ...row, status: cause instanceof SkipRow ? 'skipped' : 'failed', reason };
  }
}
