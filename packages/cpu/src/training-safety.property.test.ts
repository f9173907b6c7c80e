import { bfloat16ToNumber, type Dtype, float16ToNumber, numberToBfloat16, numberToFloat16 } from '@stable-adamw/core';
import { describe, it } from 'vitest';
import { checkSafetyProperty, PROPERTY_LENGTHS, paramOp } from '../../../tooling/safety-property.js';
import type { CpuArray, CpuParam } from './param.js';
import { StableAdamW } from './stable-adamw.js';

// The shared training-safety property (tooling/safety-property.ts) on the cpu adapter, every
// dtype, plus the cpu's own bad inputs: gradients of the wrong length or type, and param data
// swapped for a longer, shorter, wrongly typed or missing array between steps.

const encode: Partial<Record<Dtype, (x: number) => number>> = { bfloat16: numberToBfloat16, float16: numberToFloat16 };
const decode: Partial<Record<Dtype, (x: number) => number>> = { bfloat16: bfloat16ToNumber, float16: float16ToNumber };

function storage(dtype: Dtype, values: readonly number[]): CpuArray {
  if (dtype === 'float64') return Float64Array.from(values);
  if (dtype === 'float32') return Float32Array.from(values);
  return Uint16Array.from(values, encode[dtype] as (x: number) => number);
}

/** Gradients as the adapter gets them (Float64Array for float64 params, Float32Array otherwise). */
const gradArray = (dtype: Dtype, values: readonly number[]) =>
  dtype === 'float64' ? Float64Array.from(values) : Float32Array.from(values);

type SwapData = 'longer' | 'shorter' | 'type' | 'null';
type Extra = { kind: 'badGrad'; param: number; how: 'length' | 'type' } | { kind: 'swapData'; param: number; how: SwapData };

describe('cpu adapter under random valid and invalid calls (fast-check)', () => {
  it('either matches the float64 reference or throws a typed error and changes nothing', async () => {
    let dtype: Dtype = 'float32';
    let params: CpuParam[] = [];
    await checkSafetyProperty<Extra>({
      dtypes: ['float64', 'float32', 'bfloat16', 'float16'],
      seed: 20240515,
      subject(d, init, options) {
        dtype = d;
        params = init.map((values, i) => ({
          data: storage(dtype, values),
          ...(dtype === 'bfloat16' || dtype === 'float16' ? { dtype } : {}),
          name: `p${i}`,
        }));
        const optimizer = new StableAdamW(params, options);
        return {
          optimizer,
          step(grads) {
            params.forEach((p, i) => {
              const g = grads[i];
              p.grad = g ? gradArray(dtype, g) : null;
            });
            optimizer.step();
          },
          construct: (bad) => new StableAdamW(params, bad as never),
          readParams: async () =>
            params.map((p) => Float64Array.from(p.data as ArrayLike<number>, (x) => decode[dtype]?.(x) ?? x)),
          dispose: () => optimizer.dispose(),
        };
      },
      extraOps: [paramOp('badGrad', ['length', 'type']), paramOp('swapData', ['longer', 'shorter', 'type', 'null'])],
      async runExtra(op, subject, refused) {
        const opt = subject.optimizer as StableAdamW;
        const p = params[op.param] as CpuParam;
        const n = PROPERTY_LENGTHS[op.param] as number;
        if (op.kind === 'badGrad') {
          const bad = op.how === 'length' ? gradArray(dtype, Array(n + 1).fill(0)) : new Uint8Array(n);
          await refused(() => opt.step(new Map([[p, bad as unknown as CpuArray]])));
          return undefined;
        }
        const original = p.data;
        const replacement = {
          longer: () => storage(dtype, Array(n + 1).fill(0)),
          shorter: () => storage(dtype, Array(n - 1).fill(0)),
          type: () => (dtype === 'float64' ? new Float32Array(n) : new Float64Array(n)),
          null: () => null,
        }[op.how]();
        await refused(
          () => {
            p.data = replacement as CpuArray;
            opt.step(new Map([[params[0] as CpuParam, gradArray(dtype, Array(PROPERTY_LENGTHS[0]).fill(0.1))]]));
          },
          () => {
            p.data = original;
          },
        );
        return undefined;
      },
    });
  });
});
