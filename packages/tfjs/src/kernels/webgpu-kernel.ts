import type { MomentScalars, StableAdamWKernelV1, UpdateScalars } from '@stable-adamw/core/adapter';
import * as tf from '@tensorflow/tfjs-core';
import type { TfjsState } from '../state.js';

/** The part of tfjs-backend-webgpu's `WebGPUBackend` these kernels use (kept structural: no hard dependency). */
interface WebGPUBackendLike {
  runWebGPUProgram(
    program: WgslProgram,
    inputs: tf.TensorInfo[],
    outputDtype: tf.DataType,
    programDefinedUniform?: { type: 'float32'; data: number[] }[],
  ): tf.TensorInfo;
}

/** The fields of tfjs-backend-webgpu's `WebGPUProgram` these programs set. */
interface WgslProgram {
  shaderKey: string;
  variableNames: string[];
  outputShape: number[];
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number];
  size: boolean;
  uniforms: string;
  getUserCode: () => string;
}

/** Threads per workgroup; each reduction workgroup sums `4 × WORKGROUP` elements. */
const WORKGROUP = 256;
const REDUCE_BLOCK = 4 * WORKGROUP;

// Inputs are bound as flat `array<f32>` named by `variableNames`; tfjs supplies `uniforms.size`
// (the output length), `setOutputAtIndex`, `localIndex` and its bit-exact `isnan`.
// Phase 1 reads every gradient as g·gradScale (a loss scaler's unscale, or 1).
const FIRST_MOMENT = `
fn main(index : i32) {
  if (index < uniforms.size) {
    let m = expAvg[index];
    setOutputAtIndex(index, m + uniforms.w1 * (gradient[index] * uniforms.gradScale - m));
  }
}`;

const SECOND_MOMENT = `
fn main(index : i32) {
  if (index < uniforms.size) {
    let g = gradient[index] * uniforms.gradScale;
    setOutputAtIndex(index, expAvgSq[index] * uniforms.beta2 + uniforms.w2 * (g * g));
  }
}`;

/**
 * A pairwise block sum: each workgroup adds 4 terms per thread, then halves a shared array 8 times,
 * so every partial carries ~10 roundings rather than the ~n of a sequential float32 loop.
 */
function blockSum(term: string, length: string): string {
  return `
var<workgroup> sumScratch : array<f32, ${WORKGROUP}>;

fn sumTerm(i : i32) -> f32 {
  if (i >= ${length}) {
    return 0.0;
  }
  ${term}
}

fn main(index : i32) {
  let laneIndex = i32(localIndex);
  let blockIndex = index / ${WORKGROUP};
  let first = blockIndex * ${REDUCE_BLOCK} + laneIndex;
  sumScratch[laneIndex] = (sumTerm(first) + sumTerm(first + ${WORKGROUP})) + (sumTerm(first + ${2 * WORKGROUP}) + sumTerm(first + ${3 * WORKGROUP}));
  workgroupBarrier();
  for (var width = ${WORKGROUP / 2}; width > 0; width = width / 2) {
    if (laneIndex < width) {
      sumScratch[laneIndex] = sumScratch[laneIndex] + sumScratch[laneIndex + width];
    }
    workgroupBarrier();
  }
  if (laneIndex == 0 && blockIndex < uniforms.size) {
    setOutputAtIndex(blockIndex, sumScratch[0]);
  }
}`;
}

// g² / max(v', ε²) from the already updated v', summed per block in the same pass.
const RATIO_SUM = blockSum(
  'let g = gradient[i] * uniforms.gradScale;\n  return (g * g) / max(expAvgSq[i], uniforms.epsSq);',
  'uniforms.gradientShape',
);

const PARTIAL_SUM = blockSum('return partials[i];', 'uniforms.partialsShape');

// RMS and the clipped lr come from the on-device sum in every invocation: nothing is read back.
const UPDATE = `
fn main(index : i32) {
  if (index < uniforms.size) {
    let rms = sqrt(sumSquares[0] / uniforms.numel);
    let clip = !isnan(rms) && rms > 1.0;
    let eta = select(uniforms.lr, uniforms.lr / rms, clip);
    let decayed = param[index] * (1.0 - eta * uniforms.decayPerLr);
    setOutputAtIndex(index, decayed - (eta * expAvg[index]) / (sqrt(expAvgSq[index]) + uniforms.eps));
  }
}`;

function program(
  key: string,
  variableNames: string[],
  outputSize: number,
  threads: number,
  uniforms: string[],
  userCode: string,
): WgslProgram {
  return {
    shaderKey: `stableAdamW_${key}`,
    variableNames,
    outputShape: [outputSize],
    dispatchLayout: { x: [0] },
    dispatch: [Math.ceil(threads / WORKGROUP), 1, 1],
    workgroupSize: [WORKGROUP, 1, 1],
    size: true,
    uniforms: uniforms.map((name) => `${name} : f32,`).join(' '),
    getUserCode: () => userCode,
  };
}

/** Runs one program over flat float32 inputs; the result is tracked by the enclosing `tidy`. */
function run(prog: WgslProgram, inputs: tf.Tensor[], values: number[]): tf.Tensor1D {
  const backend = tf.backend() as unknown as WebGPUBackendLike;
  const info = backend.runWebGPUProgram(
    prog,
    inputs,
    'float32',
    values.map((value) => ({ type: 'float32', data: [value] })),
  );
  return tf.engine().makeTensorFromTensorInfo(info) as tf.Tensor1D;
}

/** Σ g²/max(v', ε²) on the device: one fused ratio+block pass, then block passes until one value is left. */
function sumRatio(grad: tf.Tensor1D, expAvgSq: tf.Tensor1D, epsSq: number, gradScale: number): tf.Scalar {
  const n = grad.size;
  const blocks = Math.ceil(n / REDUCE_BLOCK);
  let partials = run(
    program('ratioSum', ['gradient', 'expAvgSq'], blocks, blocks * WORKGROUP, ['epsSq', 'gradScale'], RATIO_SUM),
    [grad, expAvgSq],
    [epsSq, gradScale],
  );
  while (partials.size > 1) {
    const next = Math.ceil(partials.size / REDUCE_BLOCK);
    partials = run(program('partialSum', ['partials'], next, next * WORKGROUP, [], PARTIAL_SUM), [partials], []);
  }
  return tf.reshape(partials, []);
}

/**
 * The single-tensor WebGPU kernel, for calls that step one variable (gradient release's
 * `stepParam`, accumulation-only moment updates); whole steps run in `webgpu-multi-tensor.ts`.
 * Both phases as custom WGSL compute programs: m′ and v′ (one pass each), the RMS sum (a fused
 * g²/max(v′, ε²) + pairwise block pass, plus one more pass per 1024× more elements), and one
 * update pass that derives RMS and the clipped lr on the device.
 */
export const webgpuKernel: StableAdamWKernelV1<tf.Variable, tf.Tensor, TfjsState, tf.Scalar> = {
  updateMoments(_param, grad, state, s: MomentScalars): tf.Scalar {
    return tf.tidy(() => {
      const n = grad.size;
      const g = tf.reshape(grad, [n]) as tf.Tensor1D;
      const m = run(
        program('firstMoment', ['gradient', 'expAvg'], n, n, ['w1', 'gradScale'], FIRST_MOMENT),
        [g, tf.reshape(state.expAvg, [n])],
        [1 - s.beta1Hat, s.gradScale],
      );
      const v = run(
        program('secondMoment', ['gradient', 'expAvgSq'], n, n, ['beta2', 'w2', 'gradScale'], SECOND_MOMENT),
        [g, tf.reshape(state.expAvgSq, [n])],
        [s.beta2Hat, 1 - s.beta2Hat, s.gradScale],
      );
      state.expAvg.assign(tf.reshape(m, grad.shape));
      state.expAvgSq.assign(tf.reshape(v, grad.shape));
      // tidy keeps the returned sum and frees everything else (the moments live on in the variables).
      return s.reduce ? sumRatio(g, v, s.epsSq, s.gradScale) : (undefined as unknown as tf.Scalar);
    });
  },

  applyUpdate(param, _grad, state, sumSquares, s: UpdateScalars): void {
    tf.tidy(() => {
      const n = param.size;
      const updated = run(
        program('update', ['param', 'expAvg', 'expAvgSq', 'sumSquares'], n, n, ['lr', 'numel', 'eps', 'decayPerLr'], UPDATE),
        [tf.reshape(param, [n]), tf.reshape(state.expAvg, [n]), tf.reshape(state.expAvgSq, [n]), tf.reshape(sumSquares, [1])],
        [s.lr, s.numel, s.eps, s.weightDecayPerLr],
      );
      param.assign(tf.reshape(updated, param.shape));
    });
    sumSquares.dispose();
  },
};
