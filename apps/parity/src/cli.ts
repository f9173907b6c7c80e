#!/usr/bin/env node
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { nodeBackends, type ParityBackend } from './backends.js';
import { buildReport, formatTable, writeReport } from './report.js';
import { runParity } from './run.js';
import { scenariosFor } from './scenarios.js';

const HELP = `Usage: stable-adamw-parity [options]

Runs StableAdamW scenarios on every reachable backend against optimi's golden
trajectories and the float64 reference, prints a table and writes a JSON report.

  --backend <id>    only these backends (repeatable; an id or a prefix such as "cpu")
  --scenario <name> only scenarios whose name contains this (repeatable)
  --steps <n>       steps of the seeded scenarios (default 30)
  --seed <n>        seed of the seeded scenarios (default 1)
  --out <file>      report path (default parity-report/report.json where npm was run)
  --json            print the report as JSON instead of the table
  --strict          count an unavailable backend as a failure
  --list            list backends and scenarios, run nothing
  -h, --help        this text

Exits 1 when any scenario fails (or, with --strict or a named --backend, when a backend is unavailable).`;

function positiveInteger(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) {
    console.error(`--${name} must be a positive integer, got ${JSON.stringify(value)}`);
    process.exit(2);
  }
  return n;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      backend: { type: 'string', multiple: true, default: [] },
      scenario: { type: 'string', multiple: true, default: [] },
      steps: { type: 'string', default: '30' },
      seed: { type: 'string', default: '1' },
      out: { type: 'string' },
      json: { type: 'boolean', default: false },
      strict: { type: 'boolean', default: false },
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
  const all: ParityBackend[] = nodeBackends();
  const wanted = values.backend.flatMap((b) => b.split(',')).filter(Boolean);
  const backends = wanted.length === 0 ? all : all.filter((b) => wanted.some((w) => b.id === w || b.id.startsWith(`${w}-`)));
  const unknown = wanted.filter((w) => !all.some((b) => b.id === w || b.id.startsWith(`${w}-`)));
  if (unknown.length > 0) {
    console.error(`Unknown backend ${unknown.join(', ')}. Known: ${all.map((b) => b.id).join(', ')}`);
    return 2;
  }
  if (values.list) {
    for (const b of backends) {
      console.log(
        `${b.id}: ${scenariosFor(b.dtype, { steps, seed })
          .map((s) => s.scenario.name)
          .join(', ')}`,
      );
    }
    return 0;
  }
  const options = { steps, seed, scenarioFilter: values.scenario };
  const run = await runParity(backends, {
    ...options,
    onResult: (r) => {
      if (!values.json) process.stderr.write(`${r.pass ? '✓' : '✗'} ${r.backend} ${r.scenario}\n`);
    },
  });
  const report = buildReport(run, options);
  const out = resolve(process.env.INIT_CWD ?? process.cwd(), values.out ?? 'parity-report/report.json');
  writeReport(out, report);
  console.log(values.json ? JSON.stringify(report, null, 2) : formatTable(report));
  if (!values.json) console.log(`report: ${out}`);
  const unavailableFails = (values.strict || wanted.length > 0) && report.summary.unavailable > 0;
  return report.summary.failed > 0 || report.results.length === 0 || unavailableFails ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  },
);
