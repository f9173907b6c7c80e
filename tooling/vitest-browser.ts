import { playwright } from '@vitest/browser-playwright';
import { CHROMIUM_ARGS, DEBIAN_CHROMIUM } from './chromium.js';

/** The vitest browser provider for the packages' `browser` projects (`CHROMIUM_PATH` overrides the path). */
export function chromiumProvider() {
  return playwright({ launchOptions: { executablePath: process.env.CHROMIUM_PATH ?? DEBIAN_CHROMIUM, args: CHROMIUM_ARGS } });
}
