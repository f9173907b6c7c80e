import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConformanceTarget } from '@stable-adamw/core/testing';
import { describe, expect, it } from 'vitest';
import { nodeBackends, type ParityBackend } from './backends.js';
import { buildReport, formatTable, writeReport } from './report.js';
import { runParity } from './run.js';

const options = { steps: 8, seed: 3, scenarioFilter: [] as string[] };

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
        async create(spec) {
          return target.create({ ...spec, options: { ...spec.options, lr: spec.options.lr * 1.01 } });
        },
      };
    },
  };
}

const missing: ParityBackend = {
  id: 'missing-f32',
  dtype: 'float32',
  open: () => Promise.reject(new Error('not installed here')),
};

describe('runParity', () => {
  it('passes every scenario on the cpu backends', async () => {
    const run = await runParity(nodeBackends(), options);
    expect(run.backends.map((b) => b.id)).toEqual(['cpu-f64', 'cpu-f32', 'cpu-bf16', 'cpu-f16']);
    expect(run.results.length).toBeGreaterThan(20);
    expect(run.results.filter((r) => !r.pass)).toEqual([]);
  });

  it('fails a backend that is slightly wrong, and reports one that is missing', async () => {
    const run = await runParity([nudged(), missing], { ...options, scenarioFilter: ['golden/defaults', 'spikes-float32'] });
    expect(run.results.map((r) => [r.scenario, r.pass])).toEqual([
      ['golden/defaults-f32', false],
      ['spikes-float32', false],
    ]);
    expect(run.results[0]?.failure).toMatch(/outside/);
    expect(run.backends).toEqual([
      { id: 'nudged-f32', available: true },
      { id: 'missing-f32', available: false, reason: 'not installed here' },
    ]);
  });

  it('writes the report in the documented shape and prints a table', async () => {
    const run = await runParity([nodeBackends()[1] as ParityBackend, missing], { ...options, scenarioFilter: ['mixed'] });
    const report = buildReport(run, options);
    const path = join(mkdtempSync(join(tmpdir(), 'parity-')), 'out', 'report.json');
    writeReport(path, report);
    const written = JSON.parse(readFileSync(path, 'utf8'));
    expect(written.backends).toEqual([
      { id: 'cpu-f32', available: true },
      { id: 'missing-f32', available: false, reason: 'not installed here' },
    ]);
    expect(written.results).toEqual([
      {
        backend: 'cpu-f32',
        scenario: 'mixed-shapes-float32',
        against: 'reference',
        pass: true,
        maxAbsError: expect.any(Number),
        maxRelError: expect.any(Number),
        maxUlp: expect.any(Number),
      },
    ]);
    const table = formatTable(report);
    expect(table).toMatch(/cpu-f32 +mixed-shapes-float32 +reference/);
    expect(table).toContain('unavailable: missing-f32 (not installed here)');
    expect(table).toContain('1 passed, 0 failed, 1 backends unavailable');
  });
});
