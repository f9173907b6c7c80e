/**
 * The lines the C kernel's program (native/stable_adamw.c) prints, parsed and checked: a line that
 * is not what the protocol says throws, naming what it got, so a broken build never yields a row.
 */

/** The first line of `bench` mode: the program is set up. */
export interface NativeReady {
  /** OpenMP threads a parallel region really runs with. */
  threads: number;
  /** Widest vector extension the build targets (`sse4.2`, `avx2`, `avx512`, `neon`, `baseline`). */
  isa: string;
  params: number;
}

/** Final state of `check` mode: per tensor, as float32 values. */
export interface NativeCheckResult {
  threads: number;
  params: number[][];
  expAvg: number[][];
  expAvgSq: number[][];
}

function parseObject(line: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new Error(`native-c: expected ${what} as one JSON line, got ${JSON.stringify(line.slice(0, 200))}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error(`native-c: expected ${what} as a JSON object, got ${JSON.stringify(line.slice(0, 200))}`);
  }
  return value as Record<string, unknown>;
}

function positiveInteger(value: unknown, key: string, line: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new Error(`native-c: "${key}" must be a positive integer in ${JSON.stringify(line)}`);
  }
  return value;
}

/** `{"ready":true,"threads":n,"isa":"…","params":n}`. */
export function parseReady(line: string): NativeReady {
  const o = parseObject(line, 'the ready line');
  if (o.ready !== true) throw new Error(`native-c: expected {"ready":true,…}, got ${JSON.stringify(line)}`);
  if (typeof o.isa !== 'string' || o.isa === '') throw new Error(`native-c: "isa" must be a name in ${JSON.stringify(line)}`);
  return { threads: positiveInteger(o.threads, 'threads', line), isa: o.isa, params: positiveInteger(o.params, 'params', line) };
}

/** `{"seconds":s}` → milliseconds (finite and ≥ 0). */
export function parseStepMs(line: string): number {
  const { seconds } = parseObject(line, 'a step time');
  if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds < 0) {
    throw new Error(`native-c: "seconds" must be a finite number ≥ 0 in ${JSON.stringify(line)}`);
  }
  return seconds * 1e3;
}

function tensors(value: unknown, key: string, sizes: readonly number[]): number[][] {
  const ok =
    Array.isArray(value) &&
    value.length === sizes.length &&
    value.every((t, i) => Array.isArray(t) && t.length === sizes[i] && t.every((x) => typeof x === 'number'));
  if (!ok) throw new Error(`native-c: "${key}" must hold ${sizes.length} arrays of ${sizes.join(', ')} numbers`);
  return value as number[][];
}

/** The `check` mode's JSON, checked against the tensor sizes it was run on. */
export function parseCheck(text: string, sizes: readonly number[]): NativeCheckResult {
  const o = parseObject(text.trim(), 'the check result');
  return {
    threads: positiveInteger(o.threads, 'threads', '(check result)'),
    params: tensors(o.params, 'params', sizes),
    expAvg: tensors(o.expAvg, 'expAvg', sizes),
    expAvgSq: tensors(o.expAvgSq, 'expAvgSq', sizes),
  };
}
