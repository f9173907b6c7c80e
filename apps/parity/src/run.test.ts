import type { ConformanceTarget } from '@stable-adamw/conformance';
import { describe, expect, it } from 'vitest';
import { formatBackendSummary } from './backend-summary.js';
import type { ParityBackend } from './backends.js';
import { nodeBackends } from './node-backends.js';
import { buildReport, formatSummary, formatTable, replaceReadmeTable, reportJson } from './report.js';
import { combineRuns, runBackends } from './run.js';

const options = { steps: 8, seed: 3, quick: true, scenarioFilter: [] as string[] };

/** The cpu backend with its learning rate nudged by 1%: parity must notice. */
function nudged(): ParityBackend {
  const cpu = nodeBackends().find((b) => b.id === 'cpu-f32') as ParityBackend;
  return {
    id: 'nudged-f32',
    dtype: 'float32',
    async open(): Promise<ConformanceTarget> {
      const target = await cpu.open();
      return {
        ...target,
        create: (spec) => target.create({ ...spec, options: { ...spec.options, lr: spec.options.lr * 1.01 } }),
      };
    },
  };
}

const missing: ParityBackend = {
  id: 'missing-f32',
  dtype: 'float32',
  open: () => Promise.reject(new Error('not installed here')),
};

describe('runBackends', () => {
  it('passes every scenario on the cpu backends', async () => {
    const run = await runBackends(
      nodeBackends().filter((b) => b.id.startsWith('cpu-')),
      options,
    );
    expect(run.backends.map((b) => b.id)).toEqual([
      'cpu-f64',
      'cpu-f32',
      'cpu-bf16',
      'cpu-f16',
      'cpu-wasm-f32',
      'cpu-wasm-bf16',
      'cpu-wasm-f16',
      'cpu-wasm-f32-2t',
    ]);
    expect(run.results.length).toBeGreaterThan(25);
    expect(run.results.filter((r) => !r.pass)).toEqual([]);
    // Passing with no tolerance allowing outliers: every element within its limit.
    expect(run.results.filter((r) => r.worstErrorOverLimit === null || r.worstErrorOverLimit > 1)).toEqual([]);
  });

  it('fails a backend that is slightly wrong, and reports one that is missing', async () => {
    const run = await runBackends([nudged(), missing], { ...options, scenarioFilter: ['golden/defaults', 'spikes-float32'] });
    expect(run.results.map((r) => [r.scenario, r.pass])).toEqual([
      ['golden/defaults-f32', false],
      ['spikes-float32', false],
    ]);
    expect(run.results[0]?.failure).toMatch(/outside/);
    for (const r of run.results) expect(r.worstErrorOverLimit).toBeGreaterThan(1);
    expect(run.backends).toEqual([
      { id: 'nudged-f32', available: true, environment: 'node' },
      { id: 'missing-f32', available: false, environment: 'node', reason: 'not installed here' },
    ]);
  });
});

describe('the report', () => {
  it('has the documented shape, agreement between backends, RMS traces, and a table', async () => {
    const cpu = nodeBackends().find((b) => b.id === 'cpu-f32') as ParityBackend;
    const run = await runBackends([cpu, nudged(), missing], { ...options, scenarioFilter: ['spikes-float32'] });
    const report = JSON.parse(reportJson(buildReport(await combineRuns([run], options), options)));
    expect(report.backends.map((b: { id: string; available: boolean }) => [b.id, b.available])).toEqual([
      ['cpu-f32', true],
      ['nudged-f32', true],
      ['missing-f32', false],
    ]);
    expect(report.results[0]).toMatchObject({
      backend: 'cpu-f32',
      scenario: 'spikes-float32',
      against: 'reference',
      pass: true,
      maxAbsError: expect.any(Number),
      maxRelError: expect.any(Number),
      maxUlp: expect.any(Number),
      worstErrorOverLimit: expect.any(Number),
    });
    expect(report.results[0].worstErrorOverLimit).toBeLessThanOrEqual(1);
    expect(report.results[1]).toMatchObject({ backend: 'nudged-f32', pass: false });
    expect(report.results[1].worstErrorOverLimit).toBeGreaterThan(1);
    expect(report.results[0].trace).toHaveLength(8);
    // cpu and the nudged cpu disagree by a visible margin.
    expect(report.agreement).toEqual([
      { scenario: 'spikes-float32', a: 'cpu-f32', b: 'nudged-f32', maxAbsDiff: expect.any(Number), maxUlp: expect.any(Number) },
    ]);
    expect(report.agreement[0].maxAbsDiff).toBeGreaterThan(1e-7);
    expect(report.rmsTraces.length).toBeGreaterThan(0);
    expect(report.rmsTraces[0].rms).toHaveLength(8);
    expect(report.tolerances.float32.note).toContain('1e-6');
    const text = `${formatTable(report)}\n${formatSummary(report)}`;
    expect(text).toMatch(/cpu-f32 +spikes-float32 +reference/);
    expect(text).toContain('skipped: missing-f32 — not installed here');
    expect(text).toContain('1 passed, 1 failed, 1 backends unavailable, 0 optional backends skipped');
  });
});

describe('the README table', () => {
  it('summarises each backend and replaces only the marked block', async () => {
    const cpu = nodeBackends().find((b) => b.id === 'cpu-f32') as ParityBackend;
    const run = await runBackends([cpu, missing], { ...options, scenarioFilter: ['spikes-float32', 'golden/defaults'] });
    const report = buildReport(await combineRuns([run], options), options);
    const table = formatBackendSummary(report);
    expect(table).toMatch(/^\| cpu-f32 \| node \| 2\/2 \| /m);
    expect(table).toContain('| missing-f32 | node | skipped: not installed here |');
    const readme = 'intro\n<!-- parity-table:start -->\nold\n<!-- parity-table:end -->\noutro\n';
    const updated = replaceReadmeTable(readme, table, report.generatedAt);
    expect(updated.startsWith('intro\n<!-- parity-table:start -->\n')).toBe(true);
    expect(updated).toContain(table);
    expect(updated).not.toContain('old');
    expect(updated.endsWith('<!-- parity-table:end -->\noutro\n')).toBe(true);
    expect(() => replaceReadmeTable('no markers', table, report.generatedAt)).toThrow(/parity-table/);
    // The terminal gets the same table aligned, the skip reason printed after it instead.
    const text = formatBackendSummary(report, { markdown: false }).split('\n');
    expect(text[0]).toMatch(/^backend +where +scenarios passed +max abs err +max rel err +max ulp$/);
    expect(text[2]).toMatch(/^cpu-f32 +node +2\/2 +\d\.\d\de-\d+ +\d\.\d\de-\d+ +\d+$/);
    expect(text[3]).toMatch(/^missing-f32 +node +skipped$/);
  });
});

describe('optional backends', () => {
  it('are reported as skipped without counting as unavailable', async () => {
    const optional: ParityBackend = { ...missing, id: 'optional-f32', optional: true };
    const run = await runBackends([optional], options);
    expect(run.backends).toEqual([
      { id: 'optional-f32', available: false, environment: 'node', reason: 'not installed here', optional: true },
    ]);
    expect(buildReport(await combineRuns([run], options), options).summary).toMatchObject({ unavailable: 0, optionalSkipped: 1 });
  });
});
