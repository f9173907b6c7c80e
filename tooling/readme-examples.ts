import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runExample } from './run-example.js';

/**
 * Tests that every `examples/*.ts` of a package appears verbatim in its README and runs, logging
 * at least once; `check` may assert on what each example logged.
 */
export function describeReadmeExamples(packageRoot: URL, check?: (logged: unknown[][], file: string) => void): void {
  const readme = readFileSync(new URL('README.md', packageRoot), 'utf8');
  describe('README examples', () => {
    for (const file of readdirSync(new URL('examples/', packageRoot)).filter((f) => f.endsWith('.ts'))) {
      it(`shows examples/${file} verbatim, and it runs`, async () => {
        const example = new URL(`examples/${file}`, packageRoot);
        expect(readme).toContain(readFileSync(example, 'utf8').trim());
        const logged = await runExample(() => import(example.href));
        check?.(logged, file);
      });
    }
  });
}
