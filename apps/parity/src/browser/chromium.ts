import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';

/** Debian's Chromium; never a downloaded browser. */
export const DEFAULT_CHROMIUM = '/usr/bin/chromium';

/** Flags for headless Chromium on a machine without a GPU or network: WebGL2 and WebGPU on SwiftShader. */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--enable-unsafe-webgpu',
  '--enable-unsafe-swiftshader',
  '--use-webgpu-adapter=swiftshader',
];

/** Why Chromium cannot be used here, with the command that fixes it; undefined when it can. */
export function chromiumProblem(executablePath: string): string | undefined {
  if (existsSync(executablePath)) return undefined;
  return `Chromium not found at ${executablePath}: install it (\`apt-get install -y chromium\` on Debian) or pass --chromium <path>`;
}

export function launchChromium(executablePath: string): Promise<Browser> {
  return chromium.launch({ executablePath, headless: true, args: CHROMIUM_ARGS });
}
