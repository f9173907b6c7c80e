import { llmTensors, paramCount, type Shape, type ShapeName, sizeLabel } from '../../bench/src/shapes.js';

/** The shapes the visitor picks from (`custom` reads the tensor list they type). */
export type ShapeChoice = 'tiny' | 'small' | 'llm' | 'custom';

/** The most parameters a typed list may ask for: params, gradients and two moments must fit a tab's memory. */
export const MAX_CUSTOM_PARAMS = 64 * 2 ** 20;

/** A tensor list the page could not read, naming the part that is wrong and what to type instead. */
export class ShapeListError extends Error {
  override readonly name = 'ShapeListError';
}

const UNIT: Record<string, number> = { '': 1, k: 1024, K: 1024, m: 2 ** 20, M: 2 ** 20 };

function dimension(text: string, tensor: string): number {
  const match = /^(\d+)([kKmM]?)$/.exec(text.trim());
  const n = match ? Number(match[1]) * (UNIT[match[2] as string] as number) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new ShapeListError(
      `Tensor "${tensor}" has the dimension "${text.trim()}": each dimension must be a whole number ≥ 1, optionally with k (×1024) or M (×1048576), e.g. 4096x4096 or 8k.`,
    );
  }
  return n;
}

/**
 * Reads a typed tensor list: tensors separated by commas, semicolons or new lines, each a size or
 * dimensions joined by `x`, `×` or `*` (`4096x4096, 1024`, `8k`, `48*768`); returns the element
 * count of each tensor. Throws {@link ShapeListError} for an empty list, a bad dimension or more
 * than {@link MAX_CUSTOM_PARAMS} params in all.
 */
export function parseTensorList(text: string): number[] {
  const tensors = text
    .split(/[,;\n]/)
    .map((t) => t.trim())
    .filter(Boolean);
  if (tensors.length === 0) {
    throw new ShapeListError('The tensor list is empty: type sizes separated by commas, e.g. "4096x4096, 1024".');
  }
  const sizes = tensors.map((t) => t.split(/[x×*]/).reduce((n, d) => n * dimension(d, t), 1));
  const total = sizes.reduce((n, s) => n + s, 0);
  if (total > MAX_CUSTOM_PARAMS) {
    throw new ShapeListError(
      `The tensor list has ${total.toLocaleString('en')} params: at most ${MAX_CUSTOM_PARAMS.toLocaleString('en')} (64M) fit the page's memory budget; drop or shrink some tensors.`,
    );
  }
  return sizes;
}

function shape(name: ShapeName, description: string, tensors: readonly number[]): Shape {
  return { name, description, tensors, cpuOnly: false };
}

/**
 * The shape to time: the bench's small shape and LLM-like mix, a tiny one (the bench's quick small:
 * it checks every path runs, it measures launch overhead more than speed) or the typed `custom` list.
 */
export function chosenShape(choice: ShapeChoice, custom = ''): Shape {
  if (choice === 'tiny') return shape('small', '32 × 512 (tiny: checks every path, overhead-bound)', Array(32).fill(512));
  if (choice === 'small') return shape('small', '512 × 8k', Array(512).fill(8192));
  if (choice === 'llm') {
    const tensors = llmTensors(8192, 512, 4);
    return shape('llm', `LLM-like mix, ${sizeLabel(paramCount({ tensors }))} in ${tensors.length} tensors`, tensors);
  }
  const tensors = parseTensorList(custom);
  // bench.json's shape names have no "custom"; the description says what was typed.
  return shape('custom' as ShapeName, `custom: ${sizeLabel(paramCount({ tensors }))} in ${tensors.length} tensors`, tensors);
}
