import { fileURLToPath } from 'node:url';
import { chromiumProblem, launchChromium } from '../../../../tooling/launch-chromium.js';
import { serveFiles } from '../../../../tooling/serve-files.js';
import type { BenchRow } from '../row.js';
import type { BrowserRunOptions } from './protocol.js';

const PAGE =
  '<!doctype html><meta charset="utf-8"><title>stable-adamw bench</title><script type="module" src="/bench-browser.js"></script>';

/**
 * Runs browser subjects in headless Chromium: serves the bundled entry on loopback (cross-origin
 * isolated), loads it and collects rows (streamed to `onRow`). Without Chromium, it returns no
 * rows and the reason; the browser is closed before it returns.
 */
export async function runInChromium(
  ids: readonly string[],
  options: BrowserRunOptions & {
    chromium: string;
    onRow?: (row: BenchRow) => void;
    /** The bundled page entry; default dist/browser/entry.js beside the built CLI. */
    bundle?: string;
  },
): Promise<{ rows: BenchRow[]; chromiumVersion?: string; problem?: string }> {
  const problem = chromiumProblem(options.chromium);
  if (problem) return { rows: [], problem };
  const bundle = options.bundle ?? fileURLToPath(new URL('./browser/entry.js', import.meta.url));
  const server = await serveFiles({ '/': { body: PAGE }, '/bench-browser.js': bundle });
  const browser = await launchChromium(options.chromium);
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.exposeFunction('benchRow', (row: BenchRow) => options.onRow?.(row));
    await page.goto(server.url);
    await page
      .waitForFunction(() => 'stableAdamWBench' in window, undefined, { timeout: 30_000 })
      .catch(() => {
        throw new Error(`the bench page did not load: ${errors.join('; ') || 'no error reported'}`);
      });
    const runOptions: BrowserRunOptions = {
      shapes: [...options.shapes],
      dtypes: [...options.dtypes],
      warmup: options.warmup,
      steps: options.steps,
      quick: options.quick,
    };
    const rows = await page.evaluate(({ ids, runOptions }) => window.stableAdamWBench.run(ids, runOptions), {
      ids: [...ids],
      runOptions,
    });
    return { rows, chromiumVersion: `Chromium ${browser.version()}` };
  } finally {
    await browser.close();
    await server.close();
  }
}
