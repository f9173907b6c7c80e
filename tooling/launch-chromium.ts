import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';
import { CHROMIUM_ARGS } from './chromium.js';

/** Why Chromium cannot be used here, with the command that fixes it; undefined when it can. */
export function chromiumProblem(executablePath: string): string | undefined {
  if (existsSync(executablePath)) return undefined;
  return `Chromium not found at ${executablePath}: install it (\`apt-get install -y chromium\` on Debian) or pass --chromium <path>`;
}

/** Headless Chromium with WebGL2 and WebGPU on SwiftShader (the repo's shared flags). */
export function launchChromium(executablePath: string): Promise<Browser> {
  return chromium.launch({ executablePath, headless: true, args: CHROMIUM_ARGS });
}
