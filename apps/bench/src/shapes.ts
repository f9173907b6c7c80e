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

/** The four shapes; `quick` shrinks them ~256× (CI smoke: correctness of the plumbing, not speed). */
export function shapes(quick: boolean): Shape[] {
  const s = quick ? 1 / 256 : 1;
  return [
    { name: 'large', description: '4 × 4M', tensors: Array(4).fill(4 * M * s), cpuOnly: false },
    { name: 'small', description: '512 × 8k', tensors: Array(quick ? 32 : 512).fill(quick ? 512 : 8192), cpuOnly: false },
    {
      name: 'llm',
      description: quick ? 'LLM-like mix, width 32' : 'LLM-like mix (vocab 8k, width 512, 4 layers)',
      tensors: quick ? llmTensors(512, 32, 2) : llmTensors(8192, 512, 4),
      cpuOnly: false,
    },
    {
      name: 'target',
      description: '8 × 8M (64M fp32, cpu targets)',
      tensors: Array(8).fill(8 * M * s),
      cpuOnly: true,
      dtypes: ['float32'],
    },
  ];
}

/** Total parameters of a shape. */
export function paramCount(shape: Pick<Shape, 'tensors'>): number {
  return shape.tensors.reduce((n, t) => n + t, 0);
}
