import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { getHeapStatistics } from 'node:v8';
import { DEBIAN_CHROMIUM } from '../../../tooling/chromium.js';
import { lastLevelCacheBytes, streamFloats } from './bandwidth/cache-size.js';
import { bestOf, measureBandwidth } from './bandwidth/measure-bandwidth.js';
import { BROWSER_SUBJECTS } from './browser/protocol.js';
import { runInChromium } from './browser/run-browser.js';
import { BENCH_DTYPES, type BenchDtype } from './bytes.js';
import { type CheckpointResult, checkpointSizes, measureCheckpoints } from './checkpoint/measure-checkpoint.js';
import {
  formatBandwidth,
  formatCheckpoint,
  formatPeers,
  formatRows,
  formatSkipped,
  formatTargets,
  readmeBlock,
  replaceReadmeBlock,
} from './format.js';
import { renderHtml } from './html-report.js';
import { machineInfo } from './machine.js';
import { nodeSubjects } from './node-subjects.js';
import { cacheNote, REPORT_NOTES } from './notes.js';
import { buildReport } from './report.js';
import { reportJson, writeText } from './report-io.js';
import type { BenchRow } from './row.js';
import { runSubjects } from './run.js';
import { SHAPE_NAMES, type ShapeName, shapes } from './shapes.js';

/** The `--backend` id of the checkpoint measurement. */
const CHECKPOINT = 'checkpoint';

const HELP = `Usage: stable-adamw-bench [options]

Times StableAdamW steps (and the tfjs peers: tf.train.adam, and Adam + decoupled weight decay) on
every reachable backend, in Node and headless Chromium, on three model shapes plus the 64M cpu
target shape, fp32 and bf16; measures the machine's bandwidth in the same run and reports each
result as a fraction of the bound, with GPU dispatches per step. Prints a table and writes
bench-report/bench.json, bench.html and table.md.

  --backend <id>     only these subjects (repeatable or comma-separated; an id or a prefix like "tfjs");
                     "checkpoint": the checkpoint save/load measurement (runs by default, not with other --backend ids)
  --shape <name>     only these shapes: ${SHAPE_NAMES.join(', ')} (repeatable or comma-separated)
  --dtype <dtype>    only float32, bfloat16 or float16 (repeatable or comma-separated)
  --steps <n>        timed steps per row, the median is reported (default 10)
  --warmup <n>       untimed steps first (default 2)
  --quick            tiny shapes, 3 steps, 1 warm-up, a short bandwidth run (CI smoke; not for figures:
                     goals read "not measured (quick)")
  --no-browser       skip the headless Chromium subjects
  --chromium <path>  Chromium executable (default ${DEBIAN_CHROMIUM})
  --out <dir>        report folder (default bench-report where npm was run)
  --json             print the report as JSON instead of the table
  --update-readme    write the performance table into README.md (between the bench-table markers)
  --list             list subjects and shapes, run nothing
  -h, --help         this text`;

function positiveInteger(name: string, value: string, min = 1): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min) throw new Error(`--${name} must be an integer ≥ ${min}, got ${JSON.stringify(value)}`);
  return n;
}

function list(values: readonly string[]): string[] {
  return values.flatMap((v) => v.split(',')).filter(Boolean);
}

function pick<T extends string>(flag: string, wanted: readonly string[], known: readonly T[]): T[] {
  const unknown = wanted.filter((w) => !known.includes(w as T));
  if (unknown.length > 0) throw new Error(`Unknown --${flag} ${unknown.join(', ')}. Known: ${known.join(', ')}`);
  return wanted.length === 0 ? [...known] : known.filter((k) => wanted.includes(k));
}

function progress(row: BenchRow): void {
  const what = `${row.environment} ${row.subject} ${row.shape} ${row.dtype}`;
  if (row.timing) process.stderr.write(`✓ ${what}: ${row.timing.medianMs.toFixed(2)} ms/step\n`);
  else process.stderr.write(`${row.status === 'failed' ? '✗' : '-'} ${what}: ${row.reason}\n`);
}

/**
 * The bench as the CLI runs it: parses `args`, measures, writes the report files (and the README
 * block with `--update-readme`), prints to stdout and resolves to the exit code (1: a row failed or
 * nothing was measured).
 */
export async function runBench(args: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...args],
    options: {
      backend: { type: 'string', multiple: true, default: [] },
      shape: { type: 'string', multiple: true, default: [] },
      dtype: { type: 'string', multiple: true, default: [] },
      steps: { type: 'string' },
      warmup: { type: 'string' },
      quick: { type: 'boolean', default: false },
      'no-browser': { type: 'boolean', default: false },
      chromium: { type: 'string', default: DEBIAN_CHROMIUM },
      out: { type: 'string' },
      json: { type: 'boolean', default: false },
      'update-readme': { type: 'boolean', default: false },
      list: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const quick = values.quick;
  const steps = positiveInteger('steps', values.steps ?? (quick ? '3' : '10'));
  const warmup = positiveInteger('warmup', values.warmup ?? (quick ? '1' : '2'), 0);
  const shapeNames = pick<ShapeName>('shape', list(values.shape), SHAPE_NAMES);
  const selectedShapes = shapes(quick).filter((s) => shapeNames.includes(s.name));
  const dtypes = pick<BenchDtype>('dtype', list(values.dtype), BENCH_DTYPES);
  const node = nodeSubjects();
  const browserIds = values['no-browser'] ? [] : BROWSER_SUBJECTS.map((s) => s.id);
  const known = [...node.map((s) => s.id), ...BROWSER_SUBJECTS.map((s) => s.id), CHECKPOINT];
  const wanted = list(values.backend);
  const matches = (id: string) => wanted.length === 0 || wanted.some((w) => id === w || id.startsWith(`${w}-`));
  const unknown = wanted.filter((w) => !known.some((id) => id === w || id.startsWith(`${w}-`)));
  if (unknown.length > 0) throw new Error(`Unknown --backend ${unknown.join(', ')}. Known: ${[...new Set(known)].join(', ')}`);
  if (values.list) {
    for (const s of node.filter((s) => matches(s.id))) console.log(`node ${s.id}: ${s.implementation} (${s.dtypes.join(', ')})`);
    for (const s of BROWSER_SUBJECTS.filter((s) => browserIds.includes(s.id) && matches(s.id))) console.log(`chromium ${s.id}`);
    if (matches(CHECKPOINT)) console.log(`node ${CHECKPOINT}: saveCheckpoint/loadCheckpoint vs JSON vs Uint8Array.set`);
    for (const s of selectedShapes) console.log(`shape ${s.name}: ${s.description}`);
    return 0;
  }
  const onRow = values.json ? undefined : progress;
  const cacheBytes = lastLevelCacheBytes();
  const stream = quick
    ? { floats: 1 << 20, reps: 2, threadCounts: [1, 2] }
    : { floats: streamFloats(cacheBytes), reps: 5, threadCounts: [1, 2] };
  const before = await measureBandwidth(stream);
  if (onRow) process.stderr.write(`bandwidth: ${formatBandwidth(before)}\n`);
  const hostMemory = () => ({ rssBytes: process.memoryUsage().rss });
  const rows = await runSubjects(
    node.filter((s) => matches(s.id)),
    { shapes: selectedShapes, dtypes, warmup, steps, environment: 'node', hostMemory, ...(onRow ? { onRow } : {}) },
  );
  // Measured again after the Node rows; the best of both is the bound (see bestOf).
  const bandwidth = bestOf(before, await measureBandwidth(stream));
  let checkpoint: CheckpointResult[] = [];
  if (matches(CHECKPOINT)) {
    if (onRow) process.stderr.write('checkpoint: measuring save/load…\n');
    checkpoint = await measureCheckpoints(checkpointSizes(quick, getHeapStatistics().heap_size_limit));
    if (onRow) process.stderr.write(`${formatCheckpoint(checkpoint)}\n`);
  }
  const inBrowser = browserIds.filter(matches);
  const notes = [...REPORT_NOTES, ...cacheNote(selectedShapes, cacheBytes)];
  let chromium: string | undefined;
  if (inBrowser.length > 0) {
    const run = await runInChromium(inBrowser, {
      chromium: values.chromium,
      shapes: shapeNames,
      dtypes,
      warmup,
      steps,
      quick,
      ...(onRow ? { onRow } : {}),
    });
    chromium = run.chromiumVersion;
    rows.push(...run.rows);
    if (run.problem) {
      notes.push(`Chromium subjects (${inBrowser.join(', ')}) skipped: ${run.problem}`);
      if (onRow) process.stderr.write(`- chromium subjects skipped: ${run.problem}\n`);
    }
  }
  const report = buildReport({
    rows,
    bandwidth,
    shapes: selectedShapes,
    machine: machineInfo(cacheBytes, chromium),
    options: { warmup, steps, quick },
    notes,
    checkpoint,
  });
  const out = resolve(process.env.INIT_CWD ?? process.cwd(), values.out ?? 'bench-report');
  // The folder ignores itself, wherever --out puts it (npm run bench writes it at the repository root).
  writeText(resolve(out, '.gitignore'), '*\n');
  writeText(resolve(out, 'bench.json'), reportJson(report));
  writeText(resolve(out, 'bench.html'), renderHtml(report));
  writeText(resolve(out, 'table.md'), `${readmeBlock(report)}\n`);
  if (values['update-readme']) {
    const readme = resolve(process.env.INIT_CWD ?? process.cwd(), 'README.md');
    writeText(readme, replaceReadmeBlock(readFileSync(readme, 'utf8'), readmeBlock(report)));
  }
  if (values.json) console.log(reportJson(report));
  else {
    const peers = report.peers.length > 0 ? `\n\n${formatPeers(report.peers)}` : '';
    const saved = report.checkpoint.length > 0 ? `\n\n${formatCheckpoint(report.checkpoint)}` : '';
    console.log(
      `${formatRows(report, { skipped: false })}\n\n${formatSkipped(report)}${peers}\n\nbandwidth: ${formatBandwidth(report.bandwidth)}\n\n${formatTargets(report.cpuTargets)}${saved}`,
    );
    console.log(`\nreport: ${out}/bench.json, ${out}/bench.html, ${out}/table.md`);
  }
  // A failed row (a crash, not a skip) fails the run; so does a run that measured nothing.
  const measured = report.rows.some((r) => r.timing) || report.checkpoint.length > 0;
  return report.rows.some((r) => r.status === 'failed') || !measured ? 1 : 0;
}
