import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Dtype } from '@stable-adamw/core';
import { describe, expect, it } from 'vitest';
import { DEBIAN_CHROMIUM } from '../../../tooling/chromium.js';
import { renderInChromium } from '../../../tooling/launch-chromium.js';
import type { ParityBackend } from './backends.js';
import { BROWSER_BACKENDS } from './browser/protocol.js';
import { renderHtml } from './html-report.js';
import { nodeBackends } from './node-backends.js';
import { buildReport, type ParityReport, type ParityResult } from './report.js';
import { combineRuns, runBackends } from './run.js';

/** Kept by CI as an artifact (git-ignored): the full-size layout as Chromium drew it. */
const SCREENSHOT = fileURLToPath(new URL('../../../parity-report/screenshot.png', import.meta.url));
const WINDOW = { width: 1280, height: 900 };

const SEEDED = ['mixed-shapes', 'spikes', 'groups', 'decoupled-schedule', 'skips-and-zeros', 'llm-mix', 'drift-1000'];
const GOLDEN_F32 = [
  'defaults',
  'no-weight-decay',
  'betas-eps',
  'clipping-spikes',
  'zero-grads',
  'skipped-grads',
  'param-groups',
  'decoupled-lr-schedule',
  'bf16-f32-shadow',
];

/** The scenario names of a full run per dtype, as `npm run parity` (without --quick) names them. */
const FULL_RUN_SCENARIOS: Record<Dtype, { recorded: string[]; seeded: string[] }> = {
  float64: { recorded: ['golden/float64', 'hand-checked-float64', 'hand-checked-decoupled-float64'], seeded: SEEDED },
  float32: {
    recorded: [...GOLDEN_F32.map((g) => `golden/${g}-f32`), 'hand-checked-float32', 'hand-checked-decoupled-float32'],
    seeded: SEEDED,
  },
  bfloat16: { recorded: ['golden/bf16-kahan', 'golden/bf16-no-kahan'], seeded: [...SEEDED, 'no-kahan'] },
  float16: { recorded: ['golden/j_fp16_kahan'], seeded: [...SEEDED, 'no-kahan'] },
};

/**
 * A report shaped like a full run (every backend, every scenario, one optional backend skipped with
 * its long reason, 1,500 agreement rows) with made-up errors spread over the whole colour scale, two
 * failures and a crash: the layout's worst case. The numbers are synthetic; the header says so.
 */
function fullSizeReport(): ParityReport {
  const options = { steps: 30, seed: 1, quick: false, scenarioFilter: [] };
  const backends = [...nodeBackends(), ...BROWSER_BACKENDS];
  const names = new Map<Dtype, string[]>(
    Object.entries(FULL_RUN_SCENARIOS).map(([dtype, { recorded, seeded }]) => [
      dtype as Dtype,
      [...recorded, ...seeded.map((s) => `${s}-${dtype}`)],
    ]),
  );
  const results: ParityResult[] = [];
  backends.forEach((b, i) => {
    if (b.id === 'tfjs-tensorflow') return;
    (names.get(b.dtype) ?? []).forEach((scenario, j) => {
      const ratio = (i + j) % 7 === 0 ? 0 : 10 ** -((i * 3 + j) % 6);
      const pass = !(i === 3 && j === 2) && !(i === 12 && j === 5);
      const crash = i === 15 && j === 1;
      const error = crash ? null : ratio * 1e-6;
      results.push({
        backend: b.id,
        scenario,
        dtype: b.dtype,
        against: 'reference',
        pass: pass && !crash,
        maxAbsError: error,
        maxRelError: error,
        maxUlp: crash ? null : Math.round(ratio * 1000),
        worstErrorOverLimit: crash ? null : pass ? ratio : 3.7,
        ...(pass && !crash ? {} : { failure: `${scenario} step 3 vs reference: params has 2 of 96 elements outside` }),
        trace: Array.from({ length: 30 }, (_, t) => ({
          step: t + 1,
          maxAbsError: error === null ? 0 : error * t,
          maxRelError: 0,
          maxUlp: 0,
        })),
      });
    });
  });
  const report = buildReport(
    {
      backends: backends.map((b) =>
        b.id === 'tfjs-tensorflow'
          ? {
              id: b.id,
              available: false,
              environment: 'node',
              optional: true,
              reason: 'not installed: `npm install @tensorflow/tfjs-node` (or tfjs-node-gpu) to add this backend',
            }
          : { id: b.id, available: true, environment: BROWSER_BACKENDS.some((x) => x.id === b.id) ? 'chromium' : 'node' },
      ),
      results,
      agreement: Array.from({ length: 1500 }, (_, k) => ({
        scenario: `spikes-float32`,
        a: `a${k}`,
        b: `b${k}`,
        maxAbsDiff: k * 1e-9,
        maxUlp: k,
      })),
      rmsTraces: [],
    },
    options,
  );
  return { ...report, environment: { node: 'layout fixture (synthetic numbers)', platform: 'test' } };
}

// CI installs Chromium, so there the check always runs.
describe.runIf(existsSync(DEBIAN_CHROMIUM) || process.env.CI)('report.html in headless Chromium', () => {
  it('fits a 1280 px window with the summary, legend and pass line on the first screen; tables collapse and filter', async () => {
    const report = fullSizeReport();
    const { errors, result: page } = await renderInChromium(
      renderHtml(report),
      () => {
        const rect = (selector: string) => document.querySelector(selector)?.getBoundingClientRect();
        const input = document.querySelector<HTMLInputElement>('input[data-filter="agreement"]');
        const visible = () => document.querySelectorAll('#agreement tbody tr:not([hidden])').length;
        const before = visible();
        if (input) {
          input.value = 'spikes-float32 a149';
          input.dispatchEvent(new Event('input'));
        }
        return {
          documentWidth: document.documentElement.scrollWidth,
          summaryBottom: rect('#summary')?.bottom ?? Number.POSITIVE_INFINITY,
          gridRight: rect('#summary-grid')?.right ?? Number.POSITIVE_INFINITY,
          legend: document.querySelector('#legend')?.textContent ?? '',
          rows: document.querySelectorAll('#summary-grid tbody tr').length,
          failCells: Array.from(document.querySelectorAll('#summary-grid td.cell')).filter((td) =>
            td.textContent?.startsWith('✗'),
          ).length,
          skippedRow: document.querySelector('#summary-grid tr.skipped')?.textContent ?? '',
          verdict: document.querySelector('.verdict')?.textContent ?? '',
          // A caption or legend wider than its box would be cut off.
          overflowing: Array.from(document.querySelectorAll('figcaption, ul.legend, th, td')).filter(
            (e) => e.scrollWidth > e.clientWidth + 1,
          ).length,
          agreementOpen: document.querySelector<HTMLDetailsElement>('#agreement-details')?.open,
          agreementRows: [before, visible()],
          agreementCount: document.querySelector('#agreement-count')?.textContent,
        };
      },
      { viewport: WINDOW, screenshotPath: SCREENSHOT },
    );
    expect(errors).toEqual([]);
    expect(page.documentWidth).toBeLessThanOrEqual(WINDOW.width);
    expect(page.gridRight).toBeLessThanOrEqual(WINDOW.width);
    expect(page.summaryBottom).toBeLessThanOrEqual(WINDOW.height);
    expect(page.legend).toMatch(/exact/);
    expect(page.legend).toMatch(/pass line: error = tolerance/);
    expect(page.legend).toMatch(/> 1: fail/);
    expect(page.rows).toBe(report.backends.length);
    expect(page.failCells).toBe(2);
    expect(page.skippedRow).toContain('optional, skipped: not installed');
    expect(page.verdict).toContain(`✗ 3 of ${report.results.length} runs failed`);
    expect(page.verdict).toContain(
      `${report.backends.length - 1} of ${report.backends.length} backends ran, skipped: tfjs-tensorflow (optional)`,
    );
    expect(page.overflowing).toBe(0);
    expect(page.agreementOpen).toBe(false);
    // Both words must match: a149 and a1490…a1499.
    expect(page.agreementRows).toEqual([1500, 11]);
    expect(page.agreementCount).toBe('11 of 1500 rows');
    expect(existsSync(SCREENSHOT)).toBe(true);
  });

  it('draws a real run: grid cells, error growth with exact series on the floor, RMS traces', async () => {
    const options = { steps: 6, seed: 2, quick: true, scenarioFilter: ['spikes-float', 'golden/defaults'] };
    const backends = nodeBackends().filter((b) => ['cpu-f64', 'cpu-f32', 'cpu-wasm-f32'].includes(b.id)) as ParityBackend[];
    const report = buildReport(await combineRuns([await runBackends(backends, options)], options), options);
    const { errors, result: counts } = await renderInChromium(
      renderHtml(report),
      () => ({
        cells: document.querySelectorAll('#summary-grid td.cell').length,
        exactCells: Array.from(document.querySelectorAll('#summary-grid td.cell')).filter((td) => td.textContent === 'exact')
          .length,
        errorCharts: document.querySelectorAll('#error-charts svg').length,
        errorLines: document.querySelectorAll('#error-charts .series').length,
        exactLegends: Array.from(document.querySelectorAll('#error-charts ul.legend li'))
          .map((li) => li.textContent ?? '')
          .filter((text) => text.endsWith('exact')),
        exactRuns: document.querySelector('#exact-runs')?.textContent ?? '',
        floorLabels: document.querySelectorAll('#error-charts .tick.exact').length,
        noData: Array.from(document.querySelectorAll('#error-charts svg')).filter((s) => s.textContent?.includes('no data'))
          .length,
        rmsLines: document.querySelectorAll('#rms-charts .series').length,
      }),
      { viewport: WINDOW },
    );
    expect(errors).toEqual([]);
    // 3 backends × 2 scenario families (golden/defaults has no float64 run: a grey cell there).
    expect(counts.cells).toBe(3 * 2);
    // cpu-f64 and cpu-f32 round like their same-dtype reference: bit-identical, and their cells say so.
    const exactRuns = report.results.filter((r) => r.worstErrorOverLimit === 0).map((r) => `${r.backend} ${r.scenario}`);
    expect(exactRuns).toEqual(expect.arrayContaining(['cpu-f64 spikes-float64', 'cpu-f32 spikes-float32']));
    expect(counts.exactCells).toBe(exactRuns.length);
    // spikes-float32 and golden/defaults-f32 have a backend with errors (cpu-wasm-f32): drawn, the exact one on the floor.
    expect(counts.errorCharts).toBeGreaterThanOrEqual(2);
    expect(counts.errorLines).toBeGreaterThanOrEqual(3);
    expect(counts.exactLegends).toContain('cpu-f32 exact');
    // Scenarios where every backend is exact at every step are named, not drawn as empty charts.
    expect(counts.exactRuns).toContain('spikes-float64 (cpu-f64)');
    expect(counts.floorLabels).toBeGreaterThan(0);
    expect(counts.noData).toBe(0);
    expect(counts.rmsLines).toBeGreaterThan(0);
  });
});
