import { InvalidParamError } from './errors.js';

/**
 * The logical shape of a flat param of `numel` elements: `shape` when given (non-negative safe
 * integers whose product is `numel`), else `[numel]`. Throws `InvalidParamError` naming `label`.
 */
export function checkedShape(shape: readonly number[] | undefined, numel: number, label: string): number[] {
  const resolved = shape ?? [numel];
  const valid = Array.isArray(resolved) && resolved.every((d) => Number.isSafeInteger(d) && d >= 0);
  if (!valid || resolved.reduce((a, b) => a * b, 1) !== numel) {
    const shown = Array.isArray(resolved) ? `[${resolved.join(', ')}]` : String(resolved);
    throw new InvalidParamError(
      label,
      `has shape ${shown} but ${numel} elements`,
      'Give a shape whose product is the number of elements (data.length).',
    );
  }
  return [...resolved];
}
