import { InvalidHyperparameterError } from './errors.js';
import { rejectUnknownKeys } from './options.js';

/** Options of `zeroGrad`, PyTorch's `zero_grad(set_to_none=True)`. */
export interface ZeroGradOptions {
  /** `true` (default, as PyTorch ≥ 2.0): `grad = null`. `false`: zero each gradient in place. */
  setToNone?: boolean;
}

/** Validates `zeroGrad`'s argument and returns its `setToNone`. */
export function zeroGradSetToNone(options: ZeroGradOptions): boolean {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidHyperparameterError(
      'options',
      options,
      'must be an object',
      "PyTorch's zero_grad(set_to_none=False) is zeroGrad({ setToNone: false }).",
    );
  }
  rejectUnknownKeys(options, 'options', ['setToNone']);
  const { setToNone = true } = options;
  if (typeof setToNone !== 'boolean') {
    throw new InvalidHyperparameterError('setToNone', setToNone, 'must be true or false', 'Pass a boolean.');
  }
  return setToNone;
}
