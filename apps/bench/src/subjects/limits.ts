import type { BenchSubject } from './subject.js';
import { upTo } from './subject.js';

/** The 4M `small` shape is the largest every slow subject runs: about 4.2M params. */
export const SMALL_SHAPE_PARAMS = 4_200_000;

/** gpu.js's cpu and webasm modes interpret the kernels on the host. */
export const GPUJS_HOST_LIMIT = upTo(
  SMALL_SHAPE_PARAMS,
  'gpu.js cpu/webasm modes are too slow for 16M+ params within the time budget (run on the 4M small shape)',
);

/** tfjs's cpu backend runs each op as a plain JS loop (about 4 s per 16M-param step here). */
export const TFJS_CPU_LIMIT = upTo(
  SMALL_SHAPE_PARAMS,
  "tfjs's cpu backend takes seconds per 16M-param step (run on the 4M small shape)",
);

/** The cpu adapter's JS bf16 kernel decodes and encodes every element in scalar JS (~3–5× its fp32 time). */
export const CPU_JS_BF16_LIMIT = upTo(
  SMALL_SHAPE_PARAMS,
  'the JS bf16 kernel is ~3–5× slower than fp32: run on the 4M small shape, where its #17 goal is measured, to keep the bench short',
  'bfloat16',
);

/** A copy of `subject` with `limit` (and an optional note) applied. */
export function limited(subject: BenchSubject, limit: NonNullable<BenchSubject['limit']>, note?: string): BenchSubject {
  return { ...subject, limit, ...(note ? { note } : {}) };
}
