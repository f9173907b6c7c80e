import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { type Browser, chromium } from 'playwright-core';
import { CHROMIUM_ARGS, DEBIAN_CHROMIUM } from './chromium.js';

/** Why Chromium cannot be used here, with the command that fixes it; undefined when it can. */
export function chromiumProblem(executablePath: string): string | undefined {
  if (existsSync(executablePath)) return undefined;
  return `Chromium not found at ${executablePath}: install it (\`apt-get install -y chromium\` on Debian) or pass --chromium <path>`;
}

/** Headless Chromium with WebGL2 and WebGPU on SwiftShader (the repo's shared flags). */
export function launchChromium(executablePath: string): Promise<Browser> {
  return chromium.launch({ executablePath, headless: true, args: CHROMIUM_ARGS });
}

/** How `renderInChromium` sets up the page and where it keeps the screenshot. */
export interface RenderOptions {
  /** The window size (Playwright's default, 1280 × 720, when absent). */
  viewport?: { width: number; height: number };
  /** Also writes the full-page screenshot to this PNG file (its folder is created). */
  screenshotPath?: string;
}

/**
 * Renders `html` in a fresh headless page and runs `probe` in it: the page's errors, the probe's
 * result and the size of a full-page screenshot (a rendered page is not blank).
 */
export async function renderInChromium<T>(
  html: string,
  probe: () => T,
  { viewport, screenshotPath }: RenderOptions = {},
): Promise<{ errors: string[]; result: T; screenshotBytes: number }> {
  const browser = await launchChromium(DEBIAN_CHROMIUM);
  try {
    const page = await browser.newPage(viewport ? { viewport } : {});
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.setContent(html);
    const result = await page.evaluate(probe);
    if (screenshotPath) mkdirSync(dirname(screenshotPath), { recursive: true });
    const shot = await page.screenshot({ fullPage: true, ...(screenshotPath ? { path: screenshotPath } : {}) });
    return { errors, result, screenshotBytes: shot.byteLength };
  } finally {
    await browser.close();
  }
}
