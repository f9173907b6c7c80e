/** Minimal self-contained SVG line charts for the HTML report (no scripts, no external assets). */

export interface Series {
  name: string;
  /** [x, y]; y null (or, on a log axis, negative) leaves a gap; y = 0 on a log axis is drawn at the "exact" floor. */
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

/**
 * Twenty colours that stay apart on white (d3's category10, then darker companions); past twenty a
 * series reuses a colour with a dashed line.
 */
export const PALETTE = [
  '#1f77b4',
  '#d62728',
  '#2ca02c',
  '#ff7f0e',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#17becf',
  '#bcbd22',
  '#7f7f7f',
  '#393b79',
  '#637939',
  '#8c6d31',
  '#843c39',
  '#7b4173',
  '#3182bd',
  '#e6550d',
  '#31a354',
  '#756bb1',
  '#252525',
];

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

/**
 * Where zeros go on a log axis: one decade below the smallest positive value (10⁻¹⁶ when every
 * value is 0), in log10 units; undefined when no series has a zero.
 */
function exactFloor(series: readonly Series[]): number | undefined {
  const ys = series.flatMap((s) => s.points.map(([, y]) => y));
  if (!ys.includes(0)) return undefined;
  const positive = ys.filter((y): y is number => y !== null && y > 0 && Number.isFinite(y));
  return positive.length === 0 ? -16 : Math.floor(Math.log10(Math.min(...positive))) - 1;
}

/** Whether every point of a series is exactly 0. */
export function isExact(series: Series): boolean {
  return series.points.length > 0 && series.points.every(([, y]) => y === 0);
}

/**
 * A line chart as a `<figure>`: the title as a caption (wraps, never cut), the SVG plot with axes
 * and ticks, and an HTML legend under it (a series that is 0 throughout is marked "exact"). On a
 * log axis zeros are drawn on a floor line labelled "exact".
 */
export function lineChart(o: LineChartOptions): string {
  const width = o.width ?? 600;
  const height = o.height ?? 240;
  const pad = { left: 64, right: 16, top: 12, bottom: 40 };
  const floor = o.logY ? exactFloor(o.series) : undefined;
  const ty = (y: number) => (o.logY ? (y === 0 && floor !== undefined ? floor : Math.log10(y)) : y);
  const valid = (y: number | null): y is number => y !== null && Number.isFinite(y) && (!o.logY || y >= 0);
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
  const caption = `<figcaption>${escapeHtml(o.title)}</figcaption>`;
  const svg: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeHtml(o.title)}">`,
  ];
  if (xs.length === 0 || ys.length === 0) {
    svg.push(`<text x="${pad.left}" y="${pad.top + plotH / 2}">no data</text></svg>`);
    return `<figure class="chart">${caption}${svg.join('')}</figure>`;
  }
  let [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) [y0, y1] = [y0 - 1, y1 + 1];
  if (o.logY) [y0, y1] = [Math.floor(y0), Math.ceil(y1)];
  // Nothing lies below the floor: the axis starts there, so "exact" is the bottom line.
  if (floor !== undefined) [y0, y1] = [floor, Math.max(y1, floor + 1)];
  const sx = (x: number) => pad.left + ((x - x0) / (x1 - x0)) * plotW;
  const sy = (y: number) => pad.top + plotH - ((y - y0) / (y1 - y0)) * plotH;
  svg.push(`<rect x="${pad.left}" y="${pad.top}" width="${plotW}" height="${plotH}" class="frame"/>`);
  const yTicks = o.logY ? niceTicks(y0, y1, 6).filter(Number.isInteger) : niceTicks(y0, y1, 5);
  for (const t of yTicks.filter((t) => t !== floor)) {
    svg.push(`<line x1="${pad.left}" x2="${pad.left + plotW}" y1="${sy(t)}" y2="${sy(t)}" class="gridline"/>`);
    svg.push(
      `<text x="${pad.left - 6}" y="${sy(t) + 4}" text-anchor="end" class="tick">${formatTick(t, Boolean(o.logY))}</text>`,
    );
  }
  if (floor !== undefined) {
    svg.push(`<line x1="${pad.left}" x2="${pad.left + plotW}" y1="${sy(floor)}" y2="${sy(floor)}" class="floor"/>`);
    svg.push(`<text x="${pad.left - 6}" y="${sy(floor) + 4}" text-anchor="end" class="tick exact">exact</text>`);
  }
  for (const t of niceTicks(x0, x1, 6)) {
    svg.push(`<text x="${sx(t)}" y="${pad.top + plotH + 16}" text-anchor="middle" class="tick">${formatTick(t, false)}</text>`);
  }
  svg.push(
    `<text x="${pad.left + plotW / 2}" y="${height - 6}" text-anchor="middle" class="label">${escapeHtml(o.xLabel)}</text>`,
  );
  svg.push(
    `<text x="14" y="${pad.top + plotH / 2}" transform="rotate(-90 14 ${pad.top + plotH / 2})" text-anchor="middle" class="label">${escapeHtml(o.yLabel)}</text>`,
  );
  if (o.yLine !== undefined) {
    svg.push(`<line x1="${pad.left}" x2="${pad.left + plotW}" y1="${sy(ty(o.yLine))}" y2="${sy(ty(o.yLine))}" class="refline"/>`);
  }
  const legend: string[] = [];
  o.series.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length] as string;
    const dash = i >= PALETTE.length ? ' stroke-dasharray="5 3"' : '';
    const segments: string[][] = [[]];
    for (const [x, y] of s.points) {
      if (valid(y)) (segments.at(-1) as string[]).push(`${sx(x).toFixed(1)},${sy(ty(y)).toFixed(1)}`);
      else if ((segments.at(-1) as string[]).length > 0) segments.push([]);
    }
    for (const seg of segments.filter((g) => g.length > 0)) {
      const [cx, cy] = (seg[0] as string).split(',');
      svg.push(
        seg.length === 1
          ? `<circle cx="${cx}" cy="${cy}" r="2.5" fill="${color}" class="series"/>`
          : `<polyline points="${seg.join(' ')}" fill="none" stroke="${color}" stroke-width="1.5"${dash} class="series"/>`,
      );
    }
    const exact = isExact(s) ? ' <b class="exact">exact</b>' : '';
    legend.push(`<li><i style="background:${color}"></i>${escapeHtml(s.name)}${exact}</li>`);
  });
  svg.push('</svg>');
  return `<figure class="chart">${caption}${svg.join('')}<ul class="legend">${legend.join('')}</ul></figure>`;
}
