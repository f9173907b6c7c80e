import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DEBIAN_CHROMIUM } from '../../../tooling/chromium.js';
import { renderInChromium } from '../../../tooling/launch-chromium.js';
import type { ParityBackend } from './backends.js';
import { renderHtml } from './html-report.js';
import { nodeBackends } from './node-backends.js';
import { buildReport } from './report.js';
import { combineRuns, runBackends } from './run.js';

const options = { steps: 6, seed: 2, quick: true, scenarioFilter: ['spikes', 'golden/defaults'] };

// CI installs Chromium, so there the check always runs.
describe.runIf(existsSync(DEBIAN_CHROMIUM) || process.env.CI)('report.html in headless Chromium', () => {
  it('renders the heat map, error and RMS plots without errors', async () => {
    const backends = nodeBackends().filter((b) => b.id === 'cpu-f32' || b.id === 'cpu-bf16') as ParityBackend[];
    const report = buildReport(await combineRuns([await runBackends(backends, options)], options), options);
    const {
      errors,
      result: counts,
      screenshotBytes,
    } = await renderInChromium(renderHtml(report), () => ({
      heatCells: document.querySelectorAll('#heatmap .cell rect').length,
      errorCharts: document.querySelectorAll('#error-charts svg').length,
      errorLines: document.querySelectorAll('#error-charts polyline').length,
      rmsCharts: document.querySelectorAll('#rms-charts svg').length,
      rmsLines: document.querySelectorAll('#rms-charts polyline').length,
      heatWidth: document.querySelector('#heatmap svg')?.getBoundingClientRect().width ?? 0,
    }));
    expect(errors).toEqual([]);
    // 2 backends × the scenario families that ran (golden/defaults only on f32: a grey cell for bf16).
    expect(counts.heatCells).toBe(2 * new Set(report.results.map((r) => r.scenario.replace(/-(float32|bfloat16)$/, ''))).size);
    expect(counts.errorCharts).toBeGreaterThan(1);
    expect(counts.errorLines).toBeGreaterThan(1);
    expect(counts.rmsCharts).toBeGreaterThan(0);
    expect(counts.rmsLines).toBeGreaterThan(0);
    expect(counts.heatWidth).toBeGreaterThan(100);
    expect(screenshotBytes).toBeGreaterThan(10_000);
  });
});
