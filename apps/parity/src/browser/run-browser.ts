import { fileURLToPath } from 'node:url';
import { chromiumProblem, launchChromium } from '../../../../tooling/launch-chromium.js';
import { serveFiles } from '../../../../tooling/serve-files.js';
import type { MeasureOptions } from '../measure-backend.js';
import type { ParityResult } from '../report.js';
import type { BackendRun } from '../run.js';
import type { BrowserRunOptions } from './protocol.js';

const PAGE =
  '<!doctype html><meta charset="utf-8"><title>stable-adamw parity</title><script type="module" src="/parity-browser.js"></script>';

/**
 * Runs browser backends in headless Chromium: serves the bundled browser entry on loopback, loads
 * it, and collects results (streamed to `onResult` as they finish). Without Chromium, every
 * requested backend is reported as skipped with the command that enables it.
 */
export async function runInChromium(
  ids: readonly string[],
  options: MeasureOptions & { chromium: string; onResult?: (result: ParityResult) => void },
): Promise<BackendRun & { chromiumVersion?: string }> {
  const problem = chromiumProblem(options.chromium);
  if (problem) {
    return {
      backends: ids.map((id) => ({ id, available: false, environment: 'chromium', reason: problem })),
      results: [],
      finals: [],
    };
  }
  const bundle = fileURLToPath(new URL('./browser/entry.js', import.meta.url));
  const server = await serveFiles({ '/': { body: PAGE }, '/parity-browser.js': bundle });
  const browser = await launchChromium(options.chromium);
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.exposeFunction('parityResult', (result: ParityResult) => options.onResult?.(result));
    await page.goto(server.url);
    await page
      .waitForFunction(() => 'stableAdamWParity' in window, undefined, { timeout: 30_000 })
      .catch(() => {
        throw new Error(`the parity page did not load: ${errors.join('; ') || 'no error reported'}`);
      });
    const runOptions: BrowserRunOptions = {
      steps: options.steps,
      seed: options.seed,
      quick: options.quick ?? false,
      scenarioFilter: [...options.scenarioFilter],
    };
    const run = await page.evaluate(({ ids, runOptions }) => window.stableAdamWParity.run(ids, runOptions), {
      ids: [...ids],
      runOptions,
    });
    return {
      backends: run.backends,
      results: run.results,
      finals: run.finals.map((f) => ({ ...f, params: f.params.map((p) => Float64Array.from(p)) })),
      chromiumVersion: `Chromium ${browser.version()}`,
    };
  } finally {
    await browser.close();
    await server.close();
  }
}
