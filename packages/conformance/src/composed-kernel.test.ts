import { describe, it } from 'vitest';
import { type ArrayTensor, arrayOptimizer, arrayParam } from '../../core/examples/array-adapter.js';
import { conformanceCases } from './conformance.js';
import type { ConformanceTarget } from './harness.js';

/** Core's README adapter (plain arrays over `createComposedKernel`) as a conformance target. */
const arrayTarget: ConformanceTarget = {
  id: 'array-composed',
  dtypes: ['float64', 'float32'],
  gradientRelease: true,
  nonFinite: true,
  create(spec) {
    const dtype = spec.dtype as ArrayTensor['dtype'];
    const params = spec.params.map((p) => arrayParam(p.init, dtype));
    const groups = spec.groups.map(({ params: indices, ...rest }) => ({
      ...rest,
      params: indices.map((i) => params[i] as ArrayTensor),
    }));
    const optimizer = arrayOptimizer(groups, spec.options);
    return {
      optimizer,
      backendId: optimizer.backendId,
      setGrads(grads) {
        grads.forEach((g, i) => {
          (params[i] as ArrayTensor).grad = g === null ? null : arrayParam(g, dtype);
        });
      },
      stepParam: (i, grad) => optimizer.stepParam(params[i] as ArrayTensor, arrayParam(grad, dtype)),
      readParams: () => params.map((p) => p.values.slice()),
      dispose: () => optimizer.dispose(),
    };
  },
};

// The generic kernel is what a new backend runs first: it must conform on its own.
describe('createComposedKernel over plain arrays', () => {
  for (const c of conformanceCases(arrayTarget)) it(c.name, c.run);
});
