/** Self-contained SVG horizontal bar charts for the HTML report (no scripts, no external assets). */

export interface Bar {
  label: string;
  value: number;
  /** Optional mark drawn as a dashed tick on the bar's line, e.g. its bandwidth bound. */
  mark?: number;
  /** Fill colour group, e.g. the environment. */
  group?: string;
  /** Tooltip text. */
  title?: string;
}

export interface BarChartOptions {
  title: string;
  bars: readonly Bar[];
  /** Formats a value for its label, e.g. `12.3 M/s`. */
  format: (value: number) => string;
  width?: number;
}

const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#9467bd', '#8c564b'];

/** Escapes text for HTML and SVG. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** One bar per entry, scaled to the largest value or mark; groups get distinct colours and a legend. */
export function barChart(o: BarChartOptions): string {
  const width = o.width ?? 720;
  const row = 18;
  const pad = { left: 260, right: 90, top: 26, bottom: 22 };
  const groups = [...new Set(o.bars.map((b) => b.group ?? ''))];
  const height = pad.top + o.bars.length * row + pad.bottom;
  const max = Math.max(Number.MIN_VALUE, ...o.bars.flatMap((b) => [b.value, b.mark ?? 0]).filter(Number.isFinite));
  const plotW = width - pad.left - pad.right;
  const x = (v: number) => pad.left + (Math.max(0, v) / max) * plotW;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeHtml(o.title)}">`,
    `<text x="4" y="16" class="title">${escapeHtml(o.title)}</text>`,
  ];
  o.bars.forEach((b, i) => {
    const y = pad.top + i * row;
    const color = COLORS[groups.indexOf(b.group ?? '') % COLORS.length];
    parts.push(
      `<g class="bar"><title>${escapeHtml(b.title ?? `${b.label}: ${o.format(b.value)}`)}</title>`,
      `<text x="${pad.left - 6}" y="${y + 12}" text-anchor="end" class="label">${escapeHtml(b.label)}</text>`,
      `<rect x="${pad.left}" y="${y + 2}" width="${(x(b.value) - pad.left).toFixed(1)}" height="${row - 5}" fill="${color}"/>`,
      `<text x="${(x(b.value) + 4).toFixed(1)}" y="${y + 12}" class="value">${escapeHtml(o.format(b.value))}</text>`,
      b.mark === undefined
        ? ''
        : `<line class="mark" x1="${x(b.mark).toFixed(1)}" x2="${x(b.mark).toFixed(1)}" y1="${y}" y2="${y + row}"/>`,
      '</g>',
    );
  });
  const legendY = height - 6;
  groups.forEach((g, i) => {
    if (!g) return;
    parts.push(
      `<rect x="${pad.left + i * 120}" y="${legendY - 9}" width="10" height="10" fill="${COLORS[i % COLORS.length]}"/>`,
      `<text x="${pad.left + i * 120 + 14}" y="${legendY}" class="legend">${escapeHtml(g)}</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('');
}
