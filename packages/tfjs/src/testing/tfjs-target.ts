import type { ConformanceTarget, HarnessOptimizer, HarnessSpec, OptimizerHarness, SafetyPolicy } from '@stable-adamw/conformance';
import * as tf from '@tensorflow/tfjs-core';
import type { KernelChoice } from '../kernels/resolve-kernel.js';
import { StableAdamW } from '../stable-adamw.js';

let harnesses = 0;

/**
 * A conformance target for the tfjs adapter on whatever tfjs backend is active when a harness is
 * created (set it with `tf.setBackend` first). float32 only. Works in Node and browsers.
 *
 * @param options.nonFinite the training-safety cases to run (`nonFinite` policies, and a
 *   `lossScaler` with 'skip'); default true (both). tfjs-webgpu decides 'skip' on the device in its
 *   fused kernels and refuses 'throw', which needs a synchronous readback.
 * @param options.skipOnDevice fail a step whose groups are all `nonFinite: 'skip'` if it reads
 *   anything back synchronously (the fused webgl and webgpu paths decide on the device).
 */
export function tfjsTarget(
  kernel: KernelChoice = 'auto',
  options: { nonFinite?: boolean | readonly SafetyPolicy[]; skipOnDevice?: boolean } = {},
): ConformanceTarget {
  return {
    id: `tfjs (${kernel} kernels)`,
    dtypes: ['float32'],
    nonFinite: options.nonFinite ?? true,
    gradientRelease: true,
    create: (spec) => tfjsHarness(spec, kernel, options.skipOnDevice),
  };
}

/** Runs `fn`, throwing if the active backend's `readSync` was called during it. */
function withoutSyncReadback(fn: () => void): void {
  const backend = tf.backend();
  const readSync = backend.readSync;
  let reads = 0;
  backend.readSync = (...args: Parameters<typeof readSync>) => {
    reads += 1;
    return readSync.apply(backend, args);
  };
  try {
    fn();
  } finally {
    backend.readSync = readSync;
  }
  if (reads > 0) throw new Error(`a nonFinite: 'skip' step read back ${reads} value(s) synchronously`);
}

/** A conformance harness over fresh tfjs variables that also exposes the optimizer and its variables. */
export function tfjsHarness(
  spec: HarnessSpec,
  kernel: KernelChoice = 'auto',
  skipOnDevice = false,
): OptimizerHarness & { tfjs: StableAdamW; variables: tf.Variable[] } {
  const run = harnesses++;
  const variables = spec.params.map((p, i) => {
    const initial = tf.tensor(Float32Array.from(p.init), p.shape, 'float32');
    const v = tf.variable(initial, true, `conformance${run}/${p.name ?? `param${i}`}`);
    initial.dispose();
    return v;
  });
  const groups = spec.groups.map(({ params: indices, ...overrides }) => ({
    ...overrides,
    params: indices.map((i) => variables[i] as tf.Variable),
  }));
  const optimizer = new StableAdamW(groups, { ...spec.options, kernel });
  let grads: (tf.Tensor | null)[] = [];
  const dropGrads = () => {
    for (const g of grads) g?.dispose();
    grads = [];
  };
  const facade: HarnessOptimizer = {
    get paramGroups() {
      return optimizer.paramGroups;
    },
    get accumulate() {
      return optimizer.accumulate;
    },
    set accumulate(value: boolean) {
      optimizer.accumulate = value;
    },
    step: () => {
      const apply = () =>
        optimizer.applyGradients(
          grads.flatMap((g, i) => (g === null ? [] : [{ name: (variables[i] as tf.Variable).name, tensor: g }])),
        );
      if (skipOnDevice && optimizer.paramGroups.every((g) => g.nonFinite === 'skip')) withoutSyncReadback(apply);
      else apply();
    },
    stateDict: () => optimizer.stateDict(),
    loadStateDict: (sd) => optimizer.loadStateDict(sd),
  };
  return {
    tfjs: optimizer,
    variables,
    optimizer: facade,
    get backendId() {
      return optimizer.backendId;
    },
    setGrads(values) {
      dropGrads();
      grads = values.map((g, i) =>
        g === null ? null : tf.tensor(Float32Array.from(g), (variables[i] as tf.Variable).shape, 'float32'),
      );
    },
    stepParam(i, values) {
      const v = variables[i] as tf.Variable;
      const grad = tf.tensor(Float32Array.from(values), v.shape, 'float32');
      try {
        optimizer.stepParam(v, grad);
      } finally {
        grad.dispose();
      }
    },
    readParams: () => Promise.all(variables.map(async (v) => Float64Array.from(await v.data()))),
    dispose() {
      dropGrads();
      optimizer.dispose();
      for (const v of variables) v.dispose();
    },
  };
}
