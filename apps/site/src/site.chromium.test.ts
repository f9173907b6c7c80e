import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEBIAN_CHROMIUM } from '../../../tooling/chromium.js';
import { launchChromium } from '../../../tooling/launch-chromium.js';
import { serveDirectory } from '../scripts/static-server.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = `${root}dist/`;
const shots = `${root}site-report/`;

/** Backends the repo's other Chromium tests run on SwiftShader: each must run and pass here too. */
const EXPECTED_HERE = [
  'cpu-js',
  'cpu-wasm',
  'tfjs-webgpu',
  'tfjs-webgl',
  'tfjs-wasm',
  'tfjs-cpu',
  'gpujs-webgpu',
  'gpujs-webgl2',
];

const cellTexts = (page: Page, table: string) =>
  page.$$eval(`[data-testid="${table}"] tbody tr`, (trs) => trs.map((tr) => Array.from(tr.children, (c) => c.textContent ?? '')));

describe.runIf(existsSync(DEBIAN_CHROMIUM))('the site in headless Chromium', () => {
  let site: { url: string; close(): Promise<void> };
  let browser: Browser;
  let page: Page;
  const requests: string[] = [];
  const errors: string[] = [];

  beforeAll(async () => {
    // CI builds before testing; a local run builds the page once if it is missing.
    if (!existsSync(`${dist}index.html`)) {
      const { build } = await import('vite');
      await build({ root, logLevel: 'warn' });
    }
    site = await serveDirectory(dist);
    browser = await launchChromium(DEBIAN_CHROMIUM);
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.on('request', (r) => requests.push(r.url()));
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(site.url);
    await page.waitForSelector('body[data-state="ready"]', { timeout: 60_000 });
  });

  afterAll(async () => {
    await browser?.close();
    await site?.close();
  });

  it('detects WebGL2, cross-origin isolation, WASM threads and the core count as the browser reports them', async () => {
    const truth = await page.evaluate(() => ({
      cores: navigator.hardwareConcurrency,
      webgl2: document.createElement('canvas').getContext('webgl2') !== null,
      isolated: crossOriginIsolated,
    }));
    expect(truth).toMatchObject({ webgl2: true, isolated: true });
    const fact = (id: string) => page.textContent(`[data-fact="${id}"]`);
    expect(await fact('hardware-concurrency')).toBe(String(truth.cores));
    expect(await fact('webgl2')).toMatch(/^yes: .*SwiftShader/);
    expect(await fact('cross-origin-isolated')).toBe('yes');
    expect(await fact('wasm-threads')).toBe('yes');
    expect(await fact('wasm-simd')).toBe('yes');
    expect(await fact('webgpu')).not.toMatch(/^no/);
    expect(await fact('webgpu-limits')).toMatch(/maxStorageBufferBindingSize [\d,]+/);
    const planned = await cellTexts(page, 'planned');
    for (const id of EXPECTED_HERE) expect(planned.find((r) => r[0] === id)?.[2]).not.toMatch(/^not here/);
  });

  it('labels every control, reaches Run by Tab, starts on Enter and stops between steps on Cancel', async () => {
    const unlabelled = await page.$$eval('input, select, textarea, progress', (els) =>
      els.filter((e) => (e as HTMLInputElement).labels?.length === 0 && !e.getAttribute('aria-label')).map((e) => e.id),
    );
    expect(unlabelled).toEqual([]);
    await page.getByLabel('Model shape to time').selectOption('tiny');
    await page.getByLabel('Timed steps').fill('2');
    await page.focus('body');
    for (let i = 0; i < 12 && (await page.evaluate(() => document.activeElement?.id)) !== 'run'; i++)
      await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('run');
    await page.keyboard.press('Enter');
    await page.waitForSelector('body[data-state="running"]');
    await page.waitForFunction(() => (document.getElementById('progress') as HTMLProgressElement).value >= 1);
    await page.getByRole('button', { name: 'Cancel' }).click();
    await page.waitForSelector('body[data-state="cancelled"]', { timeout: 60_000 });
    const { value, max } = await page.$eval('#progress', (p) => ({
      value: (p as HTMLProgressElement).value,
      max: (p as HTMLProgressElement).max,
    }));
    expect(value).toBeLessThan(max);
    expect(await page.textContent('[data-testid="recommendation"]')).toMatch(/^Cancelled/);
  });

  it('runs the tiny shape on every reachable backend with parity passing, recommends a package and offers both reports', async () => {
    const started = Date.now();
    await page.getByRole('button', { name: 'Run' }).click();
    await page.waitForSelector('body[data-state="done"]', { timeout: 200_000 });
    console.log(`tiny run: ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const rows = await cellTexts(page, 'results');
    const ran = rows.filter((r) => !(r[5] ?? '').startsWith('unavailable'));
    expect(ran.map((r) => r[0])).toEqual(expect.arrayContaining(EXPECTED_HERE));
    for (const [id, , , parity, speed] of ran) {
      expect(`${id}: ${parity}`).toMatch(/: pass (\d)\/\1$/);
      expect(Number(speed), `${id} M params/s`).toBeGreaterThan(0);
    }
    expect(await page.textContent('[data-testid="recommended-package"]')).toMatch(/^@stable-adamw\/(cpu|tfjs|gpujs)$/);
    expect(await page.textContent('[data-testid="install-line"]')).toMatch(/^npm i @stable-adamw\/(cpu|tfjs|gpujs)/);
    expect(await page.textContent('[data-testid="reason"]')).toMatch(/passed parity/);
    expect(await page.$$eval('.chart rect', (r) => r.length)).toBe(ran.length);

    const read = async (link: string) => {
      const [file] = await Promise.all([page.waitForEvent('download'), page.click(`#${link}`)]);
      return JSON.parse(readFileSync((await file.path()) as string, 'utf8'));
    };
    const bench = await read('download-bench');
    expect(bench.rows.map((r: { subject: string }) => r.subject)).toEqual(ran.map((r) => r[0]));
    for (const row of bench.rows) expect(row).toMatchObject({ environment: 'chromium', status: 'ok', dtype: 'float32' });
    expect(bench.rows.every((r: { paramsPerSec: number }) => r.paramsPerSec > 0)).toBe(true);
    const parity = await read('download-parity');
    expect(parity.summary.failed).toBe(0);
    expect(parity.summary.passed).toBe(parity.results.length);
    expect(parity.results.some((r: { dtype: string }) => r.dtype === 'bfloat16')).toBe(true);
  });

  it('fits 1280 × 800 and a 390 px phone without horizontal scrolling (screenshots in site-report/)', async () => {
    mkdirSync(shots, { recursive: true });
    for (const [name, viewport] of [
      ['desktop-1280x800', { width: 1280, height: 800 }],
      ['phone-390', { width: 390, height: 844 }],
    ] as const) {
      await page.setViewportSize(viewport);
      const { scrollWidth, innerWidth } = await page.evaluate(() => ({
        scrollWidth: (document.scrollingElement as Element).scrollWidth,
        innerWidth: window.innerWidth,
      }));
      expect(scrollWidth, name).toBeLessThanOrEqual(innerWidth);
      await page.screenshot({ path: `${shots}${name}.png`, fullPage: true });
    }
  });

  it('made no request beyond its own origin and threw no page errors', () => {
    const origin = new URL(site.url).origin;
    expect(requests.length).toBeGreaterThan(3);
    expect(requests.filter((u) => !u.startsWith(`${origin}/`) && !u.startsWith('blob:') && !u.startsWith('data:'))).toEqual([]);
    expect(errors).toEqual([]);
  });
});
