import { describe, expect, it } from 'vitest';
import { InvalidParamError } from './errors.js';
import { checkedShape } from './param-shape.js';

describe('checkedShape', () => {
  it('defaults to [numel] and copies a valid shape', () => {
    expect(checkedShape(undefined, 6, 'p')).toEqual([6]);
    const shape = [2, 3];
    const checked = checkedShape(shape, 6, 'p');
    expect(checked).toEqual([2, 3]);
    expect(checked).not.toBe(shape);
  });

  it.each([
    [[4, 2], 6],
    [[-2, -3], 6],
    [[1.5, 4], 6],
    [7 as unknown as number[], 7],
  ])('refuses shape %j for %i elements with a typed error', (shape, numel) => {
    expect(() => checkedShape(shape, numel, 'params[0] (w)')).toThrow(InvalidParamError);
    expect(() => checkedShape(shape, numel, 'params[0] (w)')).toThrow(/params\[0\] \(w\).*has shape .* but \d+ elements/);
  });
});
