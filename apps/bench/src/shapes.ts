import type { BenchDtype } from './bytes.js';

/** Model shapes the bench steps: lists of tensor sizes (elements), flat 1-D on every backend. */

export type ShapeName = 'large' | 'small' | 'llm' | 'target';

export interface Shape {
  name: ShapeName;
  description: string;
  /** Element count of each tensor. */
  tensors: readonly number[];
  /** Only for the typed-array backends (the cpu targets are measured on it); heavy backends skip it. */
  cpuOnly: boolean;
  /** Only these dtypes (all when absent). */
  dtypes?: readonly BenchDtype[];
}

export const SHAPE_NAMES: readonly ShapeName[] = ['large', 'small', 'llm', 'target'];

const M = 1 << 20;

/**
 * Tensors of a small decoder-only transformer: token embedding, per layer fused QKV, attention
 * output and a 4× MLP (each with a bias) and two norm scales, then a final norm.
 */
export function llmTensors(vocab: number, width: number, layers: number): number[] {
  const perLayer = [
    width * 3 * width,
    3 * width,
    width * width,
    width,
    width * 4 * width,
    4 * width,
    4 * width * width,
    width,
    width,
    width,
  ];
  return [vocab * width, ...Array.from({ length: layers }, () => perLayer).flat(), width];
}

/** A size as people write it: binary `4M` / `8k` when exact, else 3 significant digits (`16.8M`). */
export function sizeLabel(n: number): string {
  if (n >= 2 ** 20 && n % 2 ** 20 === 0) return `${n / 2 ** 20}M`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024}k`;
  if (n >= 1e6) return `${Number((n / 1e6).toPrecision(3))}M`;
  if (n >= 1e3) return `${Number((n / 1e3).toPrecision(3))}k`;
  return String(n);
}

function uniform(name: ShapeName, count: number, size: number, cpuOnly = false): Shape {
  return { name, description: `${count} × ${sizeLabel(size)}`, tensors: Array(count).fill(size), cpuOnly };
}

/** The four shapes; `quick` shrinks them ~256× (CI smoke: correctness of the plumbing, not speed). */
export function shapes(quick: boolean): Shape[] {
  const s = quick ? 1 / 256 : 1;
  const llm = quick ? llmTensors(512, 32, 2) : llmTensors(8192, 512, 4);
  return [
    uniform('large', 4, 4 * M * s),
    quick ? uniform('small', 32, 512) : uniform('small', 512, 8192),
    {
      name: 'llm',
      description: `LLM-like mix, ${sizeLabel(paramCount({ tensors: llm }))} in ${llm.length} tensors`,
      tensors: llm,
      cpuOnly: false,
    },
    { ...uniform('target', 8, 8 * M * s, true), dtypes: ['float32'] },
  ];
}

/** Total parameters of a shape. */
export function paramCount(shape: Pick<Shape, 'tensors'>): number {
  return shape.tensors.reduce((n, t) => n + t, 0);
}
