import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it, vi } from 'vitest';

const root = new URL('../', import.meta.url);
const readme = readFileSync(new URL('README.md', root), 'utf8');

describe('README examples', () => {
  for (const file of readdirSync(new URL('examples/', root)).filter((f) => f.endsWith('.ts'))) {
    it(`shows examples/${file} verbatim, and it runs`, async () => {
      const source = readFileSync(new URL(`examples/${file}`, root), 'utf8');
      expect(readme).toContain(source.trim());
      const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
      await import(`../examples/${file}`);
      expect(log).toHaveBeenCalled();
      log.mockRestore();
    });
  }
});
