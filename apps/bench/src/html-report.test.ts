import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DEBIAN_CHROMIUM } from '../../../tooling/chromium.js';
import { renderInChromium } from '../../../tooling/launch-chromium.js';
import { measureBandwidth } from './bandwidth/measure-bandwidth.js';
import { renderHtml } from './html-report.js';
import { machineInfo } from './machine.js';
import { buildReport } from './report.js';
import { runSubjects } from './run.js';
import { shapes } from './shapes.js';
import { cpuJs } from './subjects/cpu-js.js';
import { scalarJs } from './subjects/scalar-js.js';

// CI installs Chromium, so there the check always runs.
describe.runIf(existsSync(DEBIAN_CHROMIUM) || process.env.CI)('bench.html in headless Chromium', () => {
  it('renders the bandwidth, throughput and bound bar charts without errors', async () => {
    const quick = shapes(true).filter((s) => s.name === 'large' || s.name === 'small');
    const rows = await runSubjects([scalarJs, cpuJs], {
      shapes: quick,
      dtypes: ['float32', 'bfloat16'],
      warmup: 0,
      steps: 2,
      environment: 'node',
      hostMemory: () => ({ rssBytes: process.memoryUsage().rss }),
    });
    const bandwidth = await measureBandwidth({ floats: 1 << 14, reps: 1, threadCounts: [1, 2] });
    const report = buildReport({
      rows,
      bandwidth,
      shapes: quick,
      machine: machineInfo(undefined),
      options: { warmup: 0, steps: 2, quick: true },
      notes: ['n'],
    });
    const {
      errors,
      result: counts,
      screenshotBytes,
    } = await renderInChromium(renderHtml(report), () => ({
      bandwidthBars: document.querySelectorAll('#bandwidth .bar rect').length,
      throughputCharts: document.querySelectorAll('#throughput svg').length,
      throughputBars: Array.from(document.querySelectorAll('#throughput .bar rect')).map((r) => r.getBoundingClientRect().width),
      boundMarks: document.querySelectorAll('#throughput .mark').length,
      boundBars: document.querySelectorAll('#bound .bar rect').length,
      skipped: document.querySelectorAll('#skipped tr').length - 1,
    }));
    expect(errors).toEqual([]);
    expect(counts.bandwidthBars).toBe(12);
    expect(counts.throughputCharts).toBe(2);
    // Per shape: scalar-js fp32, cpu-js fp32 and bf16 — each bar drawn with a width and its bound mark.
    expect(counts.throughputBars).toHaveLength(6);
    for (const w of counts.throughputBars) expect(w).toBeGreaterThan(0);
    expect(counts.boundMarks).toBe(6);
    expect(counts.boundBars).toBe(6);
    // scalar-js bf16 is n/a on both shapes.
    expect(counts.skipped).toBe(2);
    expect(screenshotBytes).toBeGreaterThan(10_000);
  });
});
