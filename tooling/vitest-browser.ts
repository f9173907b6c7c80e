import { playwright } from '@vitest/browser-playwright';
import type { Plugin } from 'vite';
import { CHROMIUM_ARGS, DEBIAN_CHROMIUM } from './chromium.js';

/** The vitest browser provider for the packages' `browser` projects (`CHROMIUM_PATH` overrides the path). */
export function chromiumProvider() {
  return playwright({ launchOptions: { executablePath: process.env.CHROMIUM_PATH ?? DEBIAN_CHROMIUM, args: CHROMIUM_ARGS } });
}

/**
 * Vite serves a JSON file as a JavaScript module, which Chromium then refuses to load for a dynamic
 * `import(…, { with: { type: 'json' } })` (vitejs/vite#19095), as `@stable-adamw/conformance`
 * loads its golden files: drop the attribute before Vite rewrites the import.
 */
export function jsonImportAttributes(): Plugin {
  return {
    name: 'drop-json-import-attributes',
    transform(code) {
      const dropped = code.replace(
        /(import\(\s*(["'])[^"']+\.json\2)\s*,\s*\{\s*with:\s*\{\s*type:\s*(["'])json\3\s*\}\s*\}\s*\)/g,
        '$1)',
      );
      return dropped === code ? undefined : dropped;
    },
  };
}
