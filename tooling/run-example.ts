import { expect, it, vi } from 'vitest';

/** Runs an example module (in Node or a browser) and returns what it logged; it must log at least once. */
export async function runExample(load: () => Promise<unknown>): Promise<unknown[][]> {
  const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
  try {
    await load();
    expect(log).toHaveBeenCalled();
    return [...log.mock.calls];
  } finally {
    log.mockRestore();
  }
}

/**
 * Runs README examples in the browser project, bundled by Vite: pass
 * `import.meta.glob('../examples/*.mjs')` (a browser test cannot list files itself); `check` may
 * assert on what each logged.
 */
export function runBrowserExamples(
  examples: Record<string, () => Promise<unknown>>,
  check?: (logged: unknown[][], file: string) => void,
): void {
  it('finds the README examples', () => {
    expect(Object.keys(examples).length).toBeGreaterThan(0);
  });
  for (const [path, load] of Object.entries(examples)) {
    const file = path.slice(path.lastIndexOf('/') + 1);
    it(`runs examples/${file} in the browser`, async () => {
      check?.(await runExample(load), file);
    });
  }
}
