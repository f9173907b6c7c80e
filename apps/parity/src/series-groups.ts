import type { Series } from './svg-plots.js';

/**
 * Merges series whose points are identical into one, named by all of theirs ("a, b, c"), in order of
 * first appearance: backends that agree bit for bit share a line instead of hiding each other.
 */
export function groupIdenticalSeries(series: readonly Series[]): Series[] {
  const groups = new Map<string, { names: string[]; points: Series['points'] }>();
  for (const s of series) {
    const key = JSON.stringify(s.points);
    const group = groups.get(key);
    if (group) group.names.push(s.name);
    else groups.set(key, { names: [s.name], points: s.points });
  }
  return [...groups.values()].map((g) => ({ name: g.names.join(', '), points: g.points }));
}
