import { StableAdamW } from '@stable-adamw/tfjs';
import { resolveKernel } from '@stable-adamw/tfjs/testing';
import * as tf from '@tensorflow/tfjs-core';
import type { DispatchSample } from '../dispatches.js';
import { type CallCounter, countCalls } from './call-counter.js';
import { HYPER } from './scalar-js.js';
import { type BenchSubject, type MemorySample, SkipRow, type Stepper } from './subject.js';
import { seededValues } from './values.js';

type Variant = 'auto' | 'composed' | 'adam' | 'adamw';

let opened = 0;

function tfMemory(): MemorySample {
  const m = tf.memory() as tf.MemoryInfo & { numBytesInGPU?: number };
  return {
    numTensors: m.numTensors,
    numBytes: m.numBytes,
    ...(m.numBytesInGPU !== undefined ? { gpuBytes: m.numBytesInGPU } : {}),
  };
}

/** The GPU calls a step of `backend` makes: WebGPU dispatches and submits, WebGL draw calls; none on cpu/wasm. */
function gpuCounter(backend: string): CallCounter | undefined {
  if (backend === 'webgpu') return countCalls('webgpu-dispatch');
  if (backend === 'webgl') return countCalls('webgl-draw');
  return undefined;
}

/**
 * The AdamW tfjs users write today for lack of one (as epfml/disco's optimizer does):
 * `tf.train.adam`, then a decoupled weight decay `v ← v·(1 − lr·wd)` assigned to each variable.
 */
class AdamThenDecay {
  readonly #adam: tf.Optimizer;
  readonly #keep: number;
  readonly #variables: readonly tf.Variable[];

  constructor(variables: readonly tf.Variable[]) {
    const { lr, beta1, beta2, eps, weightDecay } = HYPER;
    this.#adam = tf.train.adam(lr, beta1, beta2, eps);
    this.#keep = 1 - lr * weightDecay;
    this.#variables = variables;
  }

  applyGradients(grads: tf.NamedTensorMap): void {
    this.#adam.applyGradients(grads);
    tf.tidy(() => {
      for (const v of this.#variables) v.assign(tf.mul(v, this.#keep));
    });
  }

  dispose(): void {
    this.#adam.dispose();
  }
}

async function openTfjs(name: string, sizes: readonly number[], variant: Variant): Promise<Stepper> {
  if (!(await tf.setBackend(name))) throw new Error(`tfjs backend ${name} failed to initialise`);
  await tf.ready();
  if (variant === 'composed' && resolveKernel('auto').path === 'composed') {
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
  const counter = gpuCounter(name);
  let optimizer: tf.Optimizer | AdamThenDecay;
  let kernelPath: string | undefined;
  try {
    if (variant === 'adam') optimizer = tf.train.adam(lr, beta1, beta2, eps);
    else if (variant === 'adamw') optimizer = new AdamThenDecay(variables);
    else {
      const ours = new StableAdamW(variables, { lr, betas: [beta1, beta2], eps, weightDecay, kernel: variant });
      optimizer = ours;
      kernelPath = ours.kernelPath;
    }
  } catch (error) {
    counter?.uninstall();
    tf.dispose([...variables, ...Object.values(grads)]);
    throw error;
  }
  const opt = optimizer;
  const first = variables[0] as tf.Variable;
  let last: DispatchSample | undefined;
  return {
    ...(kernelPath ? { detail: kernelPath, kernelPath } : {}),
    async step() {
      counter?.take();
      opt.applyGradients(grads);
      last = counter?.take();
      // Reading one element waits for the step's queued work on asynchronous backends (not counted).
      const probe = tf.slice(first, 0, 1);
      await probe.data();
      probe.dispose();
    },
    dispatches: () => last,
    memory: tfMemory,
    close() {
      counter?.uninstall();
      opt.dispose();
      tf.dispose([...variables, ...Object.values(grads)]);
      return { leakedTensors: tf.memory().numTensors - before };
    },
  };
}

/**
 * Four rows for one tfjs backend: our `StableAdamW` (`kernel: 'auto'`, fused on webgl/webgpu; the
 * row names the kernel path that ran), `kernel: 'composed'` (the naive composed-op StableAdamW),
 * `tf.train.adam` and the AdamW users build from it (`tf.train.adam` plus a decoupled weight-decay
 * `assign` per variable): the two peers users have today. `prepare` registers the backend (e.g.
 * imports it); float32 only.
 */
export function tfjsSubjects(name: string, prepare: () => Promise<void>): BenchSubject[] {
  const common = {
    backend: `tfjs-${name}`,
    threads: 1,
    dtypes: ['float32'] as const,
    dtypeNote: 'tfjs has no 16-bit float dtype',
    prepare,
  };
  return [
    {
      ...common,
      id: `tfjs-${name}`,
      implementation: "StableAdamW (kernel 'auto')",
      algorithm: 'stable-adamw',
      open: (s) => openTfjs(name, s, 'auto'),
    },
    {
      ...common,
      id: `tfjs-${name}-composed`,
      implementation: "StableAdamW (kernel 'composed')",
      algorithm: 'stable-adamw',
      open: (s) => openTfjs(name, s, 'composed'),
    },
    {
      ...common,
      id: `tfjs-${name}-adam`,
      implementation: 'tf.train.adam (peer)',
      algorithm: 'adam',
      open: (s) => openTfjs(name, s, 'adam'),
    },
    {
      ...common,
      id: `tfjs-${name}-adamw`,
      implementation: 'tf.train.adam + decoupled weight-decay assign per variable (peer)',
      algorithm: 'adamw',
      open: (s) => openTfjs(name, s, 'adamw'),
    },
  ];
}
