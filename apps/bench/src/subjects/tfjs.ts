import { StableAdamW } from '@stable-adamw/tfjs';
import { resolveKernel } from '@stable-adamw/tfjs/testing';
import * as tf from '@tensorflow/tfjs-core';
import { HYPER } from './scalar-js.js';
import { type BenchSubject, type MemorySample, SkipRow, type Stepper } from './subject.js';
import { seededValues } from './values.js';

type Variant = 'auto' | 'composed' | 'adam';

let opened = 0;

function tfMemory(): MemorySample {
  const m = tf.memory() as tf.MemoryInfo & { numBytesInGPU?: number };
  return {
    numTensors: m.numTensors,
    numBytes: m.numBytes,
    ...(m.numBytesInGPU !== undefined ? { gpuBytes: m.numBytesInGPU } : {}),
  };
}

async function openTfjs(name: string, sizes: readonly number[], variant: Variant): Promise<Stepper> {
  if (!(await tf.setBackend(name))) throw new Error(`tfjs backend ${name} failed to initialise`);
  await tf.ready();
  const kernel = variant === 'adam' ? undefined : resolveKernel(variant).name;
  if (variant === 'composed' && resolveKernel('auto').name === 'composed') {
    throw new SkipRow(`kernel 'auto' already runs the composed ops on tfjs-${name} (no fused kernels there)`);
  }
  const before = tf.memory().numTensors;
  const run = ++opened;
  const { lr, beta1, beta2, eps, weightDecay } = HYPER;
  const variables = sizes.map((n, i) =>
    tf.tidy(() => tf.variable(tf.tensor1d(seededValues(n, 2 * i + 1, 1)), true, `bench${run}/w${i}`)),
  );
  const grads: tf.NamedTensorMap = Object.fromEntries(
    variables.map((v, i) => [v.name, tf.tensor1d(seededValues(sizes[i] as number, 2 * i + 2, 1e-2))]),
  );
  const optimizer: tf.Optimizer =
    variant === 'adam'
      ? tf.train.adam(lr, beta1, beta2, eps)
      : new StableAdamW(variables, { lr, betas: [beta1, beta2], eps, weightDecay, kernel: variant });
  const first = variables[0] as tf.Variable;
  return {
    ...(kernel ? { detail: `${kernel} kernels` } : {}),
    async step() {
      optimizer.applyGradients(grads);
      // Reading one element waits for the step's queued work on asynchronous backends.
      const probe = tf.slice(first, 0, 1);
      await probe.data();
      probe.dispose();
    },
    memory: tfMemory,
    close() {
      optimizer.dispose();
      tf.dispose([...variables, ...Object.values(grads)]);
      return { leakedTensors: tf.memory().numTensors - before };
    },
  };
}

/**
 * Three rows for one tfjs backend: our `stableAdamW` (`kernel: 'auto'`, fused on webgl/webgpu),
 * `kernel: 'composed'` (the naive composed-op StableAdamW) and `tf.train.adam` (what users run
 * today). `prepare` registers the backend (e.g. imports it); float32 only.
 */
export function tfjsSubjects(name: string, prepare: () => Promise<void>): BenchSubject[] {
  const common = {
    backend: `tfjs-${name}`,
    threads: 1,
    dtypes: ['float32'] as const,
    dtypeNote: 'tfjs has no bfloat16',
    prepare,
  };
  return [
    {
      ...common,
      id: `tfjs-${name}`,
      implementation: "stableAdamW (kernel 'auto')",
      algorithm: 'stable-adamw',
      open: (s) => openTfjs(name, s, 'auto'),
    },
    {
      ...common,
      id: `tfjs-${name}-composed`,
      implementation: "stableAdamW (kernel 'composed')",
      algorithm: 'stable-adamw',
      open: (s) => openTfjs(name, s, 'composed'),
    },
    {
      ...common,
      id: `tfjs-${name}-adam`,
      implementation: 'tf.train.adam (baseline)',
      algorithm: 'adam',
      open: (s) => openTfjs(name, s, 'adam'),
    },
  ];
}
