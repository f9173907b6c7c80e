#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DEBIAN_CHROMIUM } from '../../../tooling/chromium.js';
import { formatBackendSummary } from './backend-summary.js';
import { BROWSER_BACKENDS } from './browser/protocol.js';
import { runInChromium } from './browser/run-browser.js';
import { renderHtml } from './html-report.js';
import { nodeBackends } from './node-backends.js';
import { buildReport, formatSummary, formatTable, replaceReadmeTable, reportJson, writeText } from './report.js';
import { type BackendRun, combineRuns, runBackends } from './run.js';
import { scenariosFor } from './scenarios.js';
import { muteTfjsNodeBanner } from './tfjs-banner.js';

const HELP = `Usage: stable-adamw-parity [options]

Runs StableAdamW scenarios on every reachable backend (Node, and headless Chromium) against
optimi's golden trajectories and the float64 reference, prints a table and writes
parity-report/report.json and parity-report/report.html.

  --backend <id>     only these backends (repeatable or comma-separated; an id or a prefix like "tfjs")
  --scenario <name>  only scenarios whose name contains this (repeatable)
  --steps <n>        steps of the seeded scenarios (default 30)
  --seed <n>         seed of the seeded scenarios (default 1)
  --quick            leave out the large (2M-element) and 1000-step scenarios
  --no-browser       skip the headless Chromium backends
  --chromium <path>  Chromium executable (default ${DEBIAN_CHROMIUM})
  --out <dir>        report folder (default parity-report where npm was run)
  --json             print the report as JSON instead of the table
  --strict           count a skipped backend as a failure (optional ones, like tfjs-node, excepted)
  --update-readme    write the per-backend summary into README.md (between the parity markers)
  --list             list backends and scenarios, run nothing
  -h, --help         this text

Exits 1 when any scenario fails (or, with --strict or a named --backend, when a backend is skipped).`;

function positiveInteger(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got ${JSON.stringify(value)}`);
  return n;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      backend: { type: 'string', multiple: true, default: [] },
      scenario: { type: 'string', multiple: true, default: [] },
      steps: { type: 'string', default: '30' },
      seed: { type: 'string', default: '1' },
      quick: { type: 'boolean', default: false },
      'no-browser': { type: 'boolean', default: false },
      chromium: { type: 'string', default: DEBIAN_CHROMIUM },
      out: { type: 'string' },
      json: { type: 'boolean', default: false },
      strict: { type: 'boolean', default: false },
      'update-readme': { type: 'boolean', default: false },
      list: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const steps = positiveInteger('steps', values.steps);
  const seed = positiveInteger('seed', values.seed);
  const node = nodeBackends();
  const browser = values['no-browser'] ? [] : [...BROWSER_BACKENDS];
  const known = [...node.map((b) => b.id), ...BROWSER_BACKENDS.map((b) => b.id)];
  const wanted = values.backend.flatMap((b) => b.split(',')).filter(Boolean);
  const matches = (id: string) => wanted.length === 0 || wanted.some((w) => id === w || id.startsWith(`${w}-`));
  const unknown = wanted.filter((w) => !known.some((id) => id === w || id.startsWith(`${w}-`)));
  if (unknown.length > 0) throw new Error(`Unknown backend ${unknown.join(', ')}. Known: ${known.join(', ')}`);
  const options = { steps, seed, quick: values.quick, scenarioFilter: values.scenario };
  if (values.list) {
    for (const b of [...node, ...browser].filter((b) => matches(b.id))) {
      console.log(`${b.id}: ${(await scenariosFor(b.dtype, options)).map((s) => s.scenario.name).join(', ')}`);
    }
    return 0;
  }
  const onResult = values.json
    ? undefined
    : (r: { pass: boolean; backend: string; scenario: string; durationMs?: number }) =>
        process.stderr.write(`${r.pass ? '✓' : '✗'} ${r.backend} ${r.scenario} (${r.durationMs ?? 0} ms)\n`);
  const runs: BackendRun[] = [
    await runBackends(
      node.filter((b) => matches(b.id)),
      { ...options, ...(onResult ? { onResult } : {}) },
    ),
  ];
  const browserIds = browser.map((b) => b.id).filter(matches);
  let chromiumVersion: string | undefined;
  if (browserIds.length > 0) {
    const run = await runInChromium(browserIds, { ...options, chromium: values.chromium, ...(onResult ? { onResult } : {}) });
    chromiumVersion = run.chromiumVersion;
    runs.push(run);
  }
  const combined = await combineRuns(runs, options);
  const report = buildReport({ ...combined, ...(chromiumVersion ? { chromium: chromiumVersion } : {}) }, options);
  const out = resolve(process.env.INIT_CWD ?? process.cwd(), values.out ?? 'parity-report');
  writeText(resolve(out, 'report.json'), reportJson(report));
  writeText(resolve(out, 'report.html'), renderHtml(report));
  writeText(resolve(out, 'table.md'), `${formatTable(report, { markdown: true })}\n`);
  if (values['update-readme']) {
    const readme = resolve(process.env.INIT_CWD ?? process.cwd(), 'README.md');
    writeText(readme, replaceReadmeTable(readFileSync(readme, 'utf8'), formatBackendSummary(report), report.generatedAt));
  }
  if (values.json) console.log(reportJson(report));
  else {
    console.log(`${formatTable(report)}\n\n${formatBackendSummary(report, { markdown: false })}\n`);
    console.log(`${formatSummary(report)}\nreport: ${out}/report.json, ${out}/report.html`);
  }
  // A backend named with --backend must run; --strict requires every non-optional backend.
  const skipped =
    wanted.length > 0 ? report.backends.filter((b) => !b.available).length : values.strict ? report.summary.unavailable : 0;
  const skippedFails = skipped > 0;
  return report.summary.failed > 0 || report.results.length === 0 || skippedFails ? 1 : 0;
}

// tfjs-backend-cpu's "install tfjs-node" notice is noise here: the report lists tfjs-node itself.
const unmute = muteTfjsNodeBanner();
main()
  .then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      console.error(error instanceof Error ? error.message : error);
      process.exitCode = 2;
    },
  )
  .finally(unmute);
