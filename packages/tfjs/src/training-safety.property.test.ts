import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, it } from 'vitest';
import { checkSafetyProperty, type Grads, PROPERTY_LENGTHS, paramArb, paramOp } from '../../../tooling/safety-property.js';
import { StableAdamW } from './stable-adamw.js';

// The shared training-safety property (tooling/safety-property.ts) on the tfjs adapter (tfjs-cpu),
// plus tfjs's own bad inputs: gradients of the wrong shape or dtype, disposed, or named for no
// variable, and a variable disposed behind the optimizer's back. A refused call also leaves the
// live tensor count and `iterations` as they were.

type BadGrad = 'shape' | 'dtype' | 'disposed' | 'unknownName';
type Extra = { kind: 'badGrad'; param: number; how: BadGrad } | { kind: 'disposeVariable'; param: number };

let runs = 0;

describe('tfjs adapter (tfjs-cpu) under random valid and invalid calls (fast-check)', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('either matches the float64 reference or throws a typed error and changes nothing', async () => {
    let variables: tf.Variable[] = [];
    /** Applies these named gradients, then frees them. */
    const applying = (opt: StableAdamW, grads: tf.NamedTensorMap) => () => {
      try {
        opt.applyGradients(grads);
      } finally {
        tf.dispose(Object.values(grads));
      }
    };
    const namedGrads = (grads: Grads) =>
      Object.fromEntries(grads.flatMap((g, i) => (g ? [[(variables[i] as tf.Variable).name, tf.tensor1d([...g])]] : [])));

    await checkSafetyProperty<Extra>({
      dtypes: ['float32'],
      seed: 20240516,
      subject(_dtype, init, options) {
        const prefix = `property${runs++}`;
        variables = init.map((values, i) => tf.tidy(() => tf.variable(tf.tensor1d(values), true, `${prefix}/p${i}`)));
        const optimizer = new StableAdamW(variables, options);
        return {
          optimizer,
          step: (grads) => applying(optimizer, namedGrads(grads))(),
          construct: (bad) => new StableAdamW(variables, bad as never),
          readParams: (skip) =>
            Promise.all(variables.map(async (v, i) => (i === skip ? null : Float64Array.from(await v.data())))),
          counters: () => ({ iterations: optimizer.iterations, tensors: tf.memory().numTensors }),
          // A skipped step still counts as a tfjs iteration (applyGradients returned normally).
          countsSkippedSteps: ['iterations'],
          dispose() {
            optimizer.dispose();
            tf.dispose(variables.filter((v) => !v.isDisposed));
          },
        };
      },
      extraOps: [
        paramOp('badGrad', ['shape', 'dtype', 'disposed', 'unknownName']),
        // Ends the sequence: a disposed variable cannot come back.
        { weight: 1, arbitrary: paramArb.map((param) => ({ kind: 'disposeVariable' as const, param })) },
      ],
      async runExtra(op, subject, refused) {
        const opt = subject.optimizer as StableAdamW;
        const v = variables[op.param] as tf.Variable;
        if (op.kind === 'disposeVariable') {
          const other = 1 - op.param;
          const grads = other === 0 ? [Array(PROPERTY_LENGTHS[0]).fill(0.1), null] : [null, Array(PROPERTY_LENGTHS[1]).fill(0.1)];
          v.dispose();
          // Every variable is re-checked before anything is written, the disposed one too.
          await refused(() => applying(opt, namedGrads(grads))(), undefined, op.param);
          return 'end';
        }
        const n = PROPERTY_LENGTHS[op.param] as number;
        const make = {
          shape: () => ({ [v.name]: tf.zeros([n + 1]) }),
          dtype: () => ({ [v.name]: tf.zeros([n], 'int32') }),
          disposed: () => {
            const g = tf.zeros([n]);
            g.dispose();
            return { [v.name]: g };
          },
          unknownName: () => ({ [`${v.name}_missing`]: tf.zeros([n]) }),
        }[op.how];
        await refused(() => applying(opt, make())());
        return undefined;
      },
    });
  });
});
