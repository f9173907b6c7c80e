/** Minimal self-contained SVG charts for the HTML report (no scripts, no external assets). */

export interface Series {
  name: string;
  /** [x, y]; y null or non-positive (on a log axis) leaves a gap. */
  points: readonly (readonly [number, number | null])[];
}

export interface LineChartOptions {
  title: string;
  series: readonly Series[];
  xLabel: string;
  yLabel: string;
  logY?: boolean;
  /** A dashed horizontal reference line, e.g. the clipping threshold RMS = 1. */
  yLine?: number;
  width?: number;
  height?: number;
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22', '#7f7f7f'];

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function niceTicks(min: number, max: number, count: number): number[] {
  if (max <= min) return [min];
  const step = 10 ** Math.floor(Math.log10((max - min) / count));
  const nice = [1, 2, 5, 10].map((m) => m * step).find((s) => (max - min) / s <= count) ?? step * 10;
  const ticks: number[] = [];
  for (let v = Math.ceil(min / nice) * nice; v <= max + 1e-12 * nice; v += nice) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

function formatTick(v: number, log: boolean): string {
  if (log) return `1e${v}`;
  return Math.abs(v) >= 1e4 || (v !== 0 && Math.abs(v) < 1e-2) ? v.toExponential(0) : String(v);
}

/** A line chart with one polyline per series, axes, ticks and a legend. */
export function lineChart(o: LineChartOptions): string {
  const width = o.width ?? 560;
  const height = o.height ?? 260;
  const pad = { left: 64, right: 150, top: 28, bottom: 40 };
  const ty = (y: number) => (o.logY ? Math.log10(y) : y);
  const valid = (y: number | null): y is number => y !== null && Number.isFinite(y) && (!o.logY || y > 0);
  const xs = o.series.flatMap((s) => s.points.map(([x]) => x));
  const ys = o.series.flatMap((s) =>
    s.points
      .map(([, y]) => y)
      .filter(valid)
      .map(ty),
  );
  if (o.yLine !== undefined) ys.push(ty(o.yLine));
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeHtml(o.title)}">`,
    `<text x="${pad.left}" y="16" class="title">${escapeHtml(o.title)}</text>`,
  ];
  if (xs.length === 0 || ys.length === 0) {
    parts.push(`<text x="${pad.left}" y="${pad.top + plotH / 2}">no data</text></svg>`);
    return parts.join('');
  }
  let [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) [y0, y1] = [y0 - 1, y1 + 1];
  if (o.logY) [y0, y1] = [Math.floor(y0), Math.ceil(y1)];
  const sx = (x: number) => pad.left + ((x - x0) / (x1 - x0)) * plotW;
  const sy = (y: number) => pad.top + plotH - ((y - y0) / (y1 - y0)) * plotH;
  parts.push(`<rect x="${pad.left}" y="${pad.top}" width="${plotW}" height="${plotH}" class="frame"/>`);
  const yTicks = o.logY ? niceTicks(y0, y1, 6).filter(Number.isInteger) : niceTicks(y0, y1, 5);
  for (const t of yTicks) {
    parts.push(`<line x1="${pad.left}" x2="${pad.left + plotW}" y1="${sy(t)}" y2="${sy(t)}" class="grid"/>`);
    parts.push(
      `<text x="${pad.left - 6}" y="${sy(t) + 4}" text-anchor="end" class="tick">${formatTick(t, Boolean(o.logY))}</text>`,
    );
  }
  for (const t of niceTicks(x0, x1, 6)) {
    parts.push(`<text x="${sx(t)}" y="${pad.top + plotH + 16}" text-anchor="middle" class="tick">${formatTick(t, false)}</text>`);
  }
  parts.push(
    `<text x="${pad.left + plotW / 2}" y="${height - 6}" text-anchor="middle" class="label">${escapeHtml(o.xLabel)}</text>`,
  );
  parts.push(
    `<text x="14" y="${pad.top + plotH / 2}" transform="rotate(-90 14 ${pad.top + plotH / 2})" text-anchor="middle" class="label">${escapeHtml(o.yLabel)}</text>`,
  );
  if (o.yLine !== undefined) {
    parts.push(
      `<line x1="${pad.left}" x2="${pad.left + plotW}" y1="${sy(ty(o.yLine))}" y2="${sy(ty(o.yLine))}" class="refline"/>`,
    );
  }
  o.series.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length];
    const segments: string[][] = [[]];
    for (const [x, y] of s.points) {
      if (valid(y)) (segments.at(-1) as string[]).push(`${sx(x).toFixed(1)},${sy(ty(y)).toFixed(1)}`);
      else if ((segments.at(-1) as string[]).length > 0) segments.push([]);
    }
    for (const seg of segments.filter((g) => g.length > 0)) {
      parts.push(
        seg.length === 1
          ? `<circle cx="${seg[0]?.split(',')[0]}" cy="${seg[0]?.split(',')[1]}" r="2.5" fill="${color}"/>`
          : `<polyline points="${seg.join(' ')}" fill="none" stroke="${color}" stroke-width="1.5" class="series"/>`,
      );
    }
    const ly = pad.top + 12 + i * 16;
    parts.push(`<rect x="${width - pad.right + 10}" y="${ly - 9}" width="10" height="10" fill="${color}"/>`);
    parts.push(`<text x="${width - pad.right + 24}" y="${ly}" class="legend">${escapeHtml(s.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('');
}

export interface HeatCell {
  /** Colour scale position in [0, 1] (0 = exact, 1 = worst); ignored when `fail`. */
  level: number;
  label: string;
  fail: boolean;
  title: string;
}

/** A row × column grid of coloured cells (green exact → yellow → orange; red = fail; grey = not run). */
export function heatMap(
  rows: readonly string[],
  cols: readonly string[],
  cell: (row: string, col: string) => HeatCell | undefined,
): string {
  const cw = 74;
  const ch = 22;
  const left = 130;
  const top = 150;
  const width = left + cols.length * cw + 10;
  const height = top + rows.length * ch + 10;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" class="heatmap" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
  ];
  cols.forEach((col, j) => {
    const x = left + j * cw + cw / 2;
    parts.push(`<text x="${x}" y="${top - 6}" transform="rotate(-45 ${x} ${top - 6})" class="tick">${escapeHtml(col)}</text>`);
  });
  rows.forEach((row, i) => {
    const y = top + i * ch;
    parts.push(`<text x="${left - 6}" y="${y + ch / 2 + 4}" text-anchor="end" class="tick">${escapeHtml(row)}</text>`);
    cols.forEach((col, j) => {
      const c = cell(row, col);
      const fill = !c
        ? '#eee'
        : c.fail
          ? '#d62728'
          : `hsl(${Math.round(120 - 90 * Math.min(1, Math.max(0, c.level)))}, 65%, 55%)`;
      parts.push(
        `<g class="cell"><title>${escapeHtml(c?.title ?? `${row} × ${col}: not run`)}</title>` +
          `<rect x="${left + j * cw}" y="${y}" width="${cw - 2}" height="${ch - 2}" fill="${fill}"/>` +
          (c
            ? `<text x="${left + j * cw + cw / 2 - 1}" y="${y + ch / 2 + 4}" text-anchor="middle" class="cell-label">${escapeHtml(c.label)}</text>`
            : '') +
          '</g>',
      );
    });
  });
  parts.push('</svg>');
  return parts.join('');
}
