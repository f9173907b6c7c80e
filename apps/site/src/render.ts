import { barChart } from './chart.js';
import type { Detection } from './detect.js';
import type { Recommendation } from './recommend.js';
import type { BackendSummary } from './summary.js';

type Cell = string | Node;

/** An element with text or child nodes (text is never parsed as HTML). */
export function el(tag: string, attrs: Record<string, string> = {}, ...children: Cell[]): HTMLElement {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  node.append(...children);
  return node;
}

function table(caption: string, header: readonly string[], rows: readonly Cell[][], testId: string): HTMLElement {
  return el(
    'div',
    { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': caption },
    el(
      'table',
      { 'data-testid': testId },
      el('caption', {}, caption),
      el('thead', {}, el('tr', {}, ...header.map((h) => el('th', { scope: 'col' }, h)))),
      el(
        'tbody',
        {},
        ...rows.map((r) => el('tr', {}, ...r.map((c, i) => el(i === 0 ? 'th' : 'td', i === 0 ? { scope: 'row' } : {}, c)))),
      ),
    ),
  );
}

const yesNo = (b: boolean) => (b ? 'yes' : 'no');

/** The detected facts, each with a stable `data-fact` for tests and screen readers alike. */
export function detectionList(d: Detection): HTMLElement {
  const limits = d.webgpu.limits
    ? Object.entries(d.webgpu.limits)
        .map(([k, v]) => `${k} ${v.toLocaleString('en')}`)
        .join(', ')
    : '';
  const facts: [string, string, string][] = [
    [
      'webgpu',
      'WebGPU',
      d.webgpu.available ? `${d.webgpu.adapter}${d.webgpu.fallback ? ' (fallback adapter)' : ''}` : `no: ${d.webgpu.reason}`,
    ],
    ['webgpu-limits', 'WebGPU limits', limits || '—'],
    ['webgl2', 'WebGL2', d.webgl2.available ? `yes: ${d.webgl2.renderer}` : 'no'],
    ['float-textures', 'WebGL2 float render targets', yesNo(d.webgl2.floatTextures)],
    ['max-texture-size', 'MAX_TEXTURE_SIZE', d.webgl2.maxTextureSize?.toString() ?? '—'],
    ['wasm-simd', 'WebAssembly SIMD', yesNo(d.wasm.simd)],
    ['wasm-threads', 'WebAssembly threads', yesNo(d.wasm.threads)],
    ['cross-origin-isolated', 'crossOriginIsolated', yesNo(d.crossOriginIsolated)],
    ['shared-array-buffer', 'SharedArrayBuffer', yesNo(d.sharedArrayBuffer)],
    ['hardware-concurrency', 'navigator.hardwareConcurrency', String(d.hardwareConcurrency)],
  ];
  return el('dl', { class: 'facts' }, ...facts.flatMap(([id, k, v]) => [el('dt', {}, k), el('dd', { 'data-fact': id }, v)]));
}

/** What each backend will run on here, or why it cannot run. */
export function plannedTable(plans: readonly { id: string; pkg: string; runsOn: string; missing?: string }[]): HTMLElement {
  return table(
    'What each backend will run on',
    ['backend', 'package', 'runs on'],
    plans.map((p) => [p.id, p.pkg, p.missing ? `not here: ${p.missing}` : p.runsOn]),
    'planned',
  );
}

function speed(s: BackendSummary): string {
  if (s.paramsPerSec !== undefined) return (s.paramsPerSec / 1e6).toPrecision(3);
  return s.timed ? `${s.timed.status}` : '—';
}

function notes(s: BackendSummary): string {
  if (s.unavailable) return `unavailable: ${s.unavailable}`;
  return [...s.failures, s.timed?.reason, s.timed?.detail, s.timed?.note].filter(Boolean).join('; ');
}

/** The results table: parity and speed per backend. */
export function resultsTable(summaries: readonly BackendSummary[]): HTMLElement {
  return table(
    'Parity and speed per backend',
    ['backend', 'package', 'runs on', 'parity', 'M params/s', 'notes'],
    summaries.map((s) => [
      s.id,
      s.pkg,
      s.runsOn,
      s.unavailable || s.parity.total === 0
        ? '—'
        : `${s.parity.passed === s.parity.total ? 'pass' : 'FAIL'} ${s.parity.passed}/${s.parity.total}`,
      speed(s),
      notes(s),
    ]),
    'results',
  );
}

/** The bar chart of the backends that ran. */
export function speedChart(summaries: readonly BackendSummary[]): HTMLElement {
  const bars = summaries
    .filter((s) => !s.unavailable)
    .map((s) => ({
      label: s.id,
      pass: s.parity.total > 0 && s.parity.passed === s.parity.total,
      ...(s.paramsPerSec === undefined ? {} : { value: s.paramsPerSec / 1e6 }),
    }));
  const figure = el('figure', { class: 'chart' });
  figure.innerHTML = barChart(bars, 'M params per second of one optimizer step, per backend');
  figure.append(el('figcaption', {}, 'M params/s of one StableAdamW step (median); red: failed parity.'));
  return figure;
}

/** The recommendation, with its install line and reason (or why there is none). */
export function recommendationBlock(r: Recommendation | undefined): HTMLElement {
  if (!r) {
    return el(
      'div',
      { class: 'recommendation', 'data-testid': 'recommendation' },
      el('p', {}, 'No backend both passed parity and completed the timed step here; the table says why.'),
    );
  }
  return el(
    'div',
    { class: 'recommendation', 'data-testid': 'recommendation' },
    el('p', {}, 'Install ', el('strong', { 'data-testid': 'recommended-package' }, r.pkg), ` (the ${r.backend} backend):`),
    el('pre', {}, el('code', { 'data-testid': 'install-line' }, r.install)),
    el('p', { 'data-testid': 'reason' }, r.reason),
  );
}
