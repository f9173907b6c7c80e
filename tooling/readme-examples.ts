import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runExample } from './run-example.js';

/** The package's README examples: `examples/*.mjs`, plain JavaScript a user can run with `node`. */
export function readmeExampleFiles(packageRoot: URL): string[] {
  return readdirSync(new URL('examples/', packageRoot))
    .filter((f) => f.endsWith('.mjs'))
    .sort();
}

/** True for an example that needs a browser (WebGL, WebGPU): `examples/*.browser.mjs`. */
export const isBrowserExample = (file: string): boolean => file.endsWith('.browser.mjs');

/**
 * Tests that every `examples/*.mjs` of a package appears verbatim in a ```js block of its README
 * and runs here, bundled by Vite, logging at least once; `check` may assert on what each example
 * logged. Browser examples (`*.browser.mjs`) are only checked for the README here: the package's
 * `readme.browser.test.ts` runs them. `npm run test:release` runs the others with plain `node` on
 * the published packages.
 */
export function describeReadmeExamples(packageRoot: URL, check?: (logged: unknown[][], file: string) => void): void {
  const readme = readFileSync(new URL('README.md', packageRoot), 'utf8');
  describe('README examples', () => {
    for (const file of readmeExampleFiles(packageRoot)) {
      const example = new URL(`examples/${file}`, packageRoot);
      it(`shows examples/${file} verbatim in a js block`, () => {
        expect(readme).toContain(`\`\`\`js\n${readFileSync(example, 'utf8').trim()}\n\`\`\``);
      });
      if (isBrowserExample(file)) continue;
      it(`runs examples/${file}`, async () => {
        const logged = await runExample(() => import(example.href));
        check?.(logged, file);
      });
    }
  });
}
