/** One bar: a backend's speed and whether it passed parity. */
export interface Bar {
  label: string;
  /** M params/s (undefined: no timed step; drawn as a label only). */
  value?: number;
  pass: boolean;
}

const escapeXml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);

const WIDTH = 600;
const LABEL = 150;
const ROW = 26;

/**
 * A horizontal bar chart (inline SVG markup) of M params/s per backend: bars scale to the fastest,
 * a backend that failed parity is drawn red and says so, one without a timed step reads "not timed".
 * It scales with its container (viewBox), so it fits a phone width.
 */
export function barChart(bars: readonly Bar[], title: string): string {
  const max = Math.max(0, ...bars.map((b) => b.value ?? 0));
  const height = bars.length * ROW + 8;
  const rows = bars.map((b, i) => {
    const y = 4 + i * ROW;
    const value = b.value ?? 0;
    const w = max > 0 ? Math.max(1, ((WIDTH - LABEL - 130) * value) / max) : 0;
    const caption = b.value === undefined ? 'not timed' : `${b.value.toPrecision(3)} M/s${b.pass ? '' : ' · parity FAIL'}`;
    const bar =
      b.value === undefined
        ? ''
        : `<rect x="${LABEL}" y="${y + 3}" width="${w.toFixed(1)}" height="${ROW - 8}" class="${b.pass ? 'bar-pass' : 'bar-fail'}"/>`;
    return (
      `<text x="${LABEL - 6}" y="${y + ROW / 2 + 4}" text-anchor="end">${escapeXml(b.label)}</text>${bar}` +
      `<text x="${(LABEL + w + 6).toFixed(1)}" y="${y + ROW / 2 + 4}">${escapeXml(caption)}</text>`
    );
  });
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${WIDTH} ${height}" role="img" aria-label="${escapeXml(title)}">` +
    `<title>${escapeXml(title)}</title>${rows.join('')}</svg>`
  );
}
