import { expect, vi } from 'vitest';

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
