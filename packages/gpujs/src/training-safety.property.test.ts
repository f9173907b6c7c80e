import { GPU } from 'gpu.js';
import { afterAll, describe, it } from 'vitest';
import { checkSafetyProperty, PROPERTY_LENGTHS, paramOp } from '../../../tooling/safety-property.js';
import type { GpuJsParam } from './param.js';
import { StableAdamW } from './stable-adamw.js';
import type { GpuJsTensor } from './tensor.js';

// The shared training-safety property (tooling/safety-property.ts) on the gpu.js adapter in its
// cpu mode, plus its own bad inputs: gradients of the wrong length or type or for an unknown
// param, and param data swapped between steps. A refused call also leaves the tensors the
// optimizer holds as they were.

type BadGrad = 'length' | 'type' | 'unknownParam';
type SwapData = 'longer' | 'shorter' | 'type' | 'null';
type Extra = { kind: 'badGrad'; param: number; how: BadGrad } | { kind: 'swapData'; param: number; how: SwapData };

describe('gpu.js adapter (cpu mode) under random valid and invalid calls (fast-check)', () => {
  const gpu = new GPU({ mode: 'cpu' });
  afterAll(() => gpu.destroy());

  it('either matches the float64 reference or throws a typed error and changes nothing', async () => {
    let params: GpuJsParam[] = [];
    await checkSafetyProperty<Extra>({
      dtypes: ['float32'],
      seed: 20240517,
      subject(_dtype, init, options) {
        params = init.map((values, i) => ({ data: Float32Array.from(values), name: `p${i}` }));
        const optimizer = new StableAdamW(params, { ...options, gpu });
        return {
          optimizer,
          step(grads) {
            params.forEach((p, i) => {
              const g = grads[i];
              p.grad = g ? Float32Array.from(g) : null;
            });
            return optimizer.step();
          },
          construct: (bad) => new StableAdamW(params, { ...(bad as object), gpu } as never),
          readParams: async () => (await optimizer.readParams()).map((values) => Float64Array.from(values)),
          counters: () => ({ tensors: optimizer.stats.liveTensors }),
          // State is uploaded lazily after a load.
          movedByLoad: ['tensors'],
          dispose: () => optimizer.dispose(),
        };
      },
      extraOps: [
        paramOp('badGrad', ['length', 'type', 'unknownParam']),
        paramOp('swapData', ['longer', 'shorter', 'type', 'null']),
      ],
      async runExtra(op, subject, refused) {
        const opt = subject.optimizer as StableAdamW;
        const param = params[op.param] as GpuJsParam;
        const n = PROPERTY_LENGTHS[op.param] as number;
        if (op.kind === 'badGrad') {
          const make = {
            length: () => new Map([[param, new Float32Array(n + 1)]]),
            type: () => new Map([[param, new Uint8Array(n) as unknown as GpuJsTensor]]),
            unknownParam: () => new Map([[{ data: new Float32Array(n) } as GpuJsParam, new Float32Array(n)]]),
          }[op.how];
          await refused(() => opt.step(make()));
          return undefined;
        }
        const original = param.data;
        const replacement = {
          longer: () => new Float32Array(n + 1),
          shorter: () => new Float32Array(n - 1),
          type: () => new Float64Array(n),
          null: () => null,
        }[op.how]();
        await refused(
          () => {
            param.data = replacement as unknown as GpuJsTensor;
            return opt.step(new Map([[params[0] as GpuJsParam, new Float32Array(PROPERTY_LENGTHS[0]).fill(0.1)]]));
          },
          () => {
            param.data = original;
          },
        );
        return undefined;
      },
    });
  });
});
