import type { MomentScalars, StableAdamWKernelV1, UpdateScalars } from '@stable-adamw/core';
import * as tf from '@tensorflow/tfjs-core';
import type { TfjsState } from '../state.js';
import { blockedSum } from './tensor-ops.js';

/** The part of tfjs-backend-webgl's `MathBackendWebGL` these kernels use (kept structural: no hard dependency). */
interface WebGLBackendLike {
  compileAndRun(
    program: GlslProgram,
    inputs: tf.TensorInfo[],
    outputDtype?: tf.DataType,
    customUniformValues?: number[][],
  ): tf.TensorInfo;
}

interface GlslProgram {
  variableNames: string[];
  outputShape: number[];
  userCode: string;
  customUniforms: { name: string; type: 'float' }[];
}

const uniforms = (...names: string[]) => names.map((name) => ({ name, type: 'float' as const }));

// Each program is one pass; tfjs caches the compiled shader by its source, so building the
// program object per call costs nothing after the first step.
const FIRST_MOMENT = `void main() {
  float g = getGAtOutCoords();
  float m = getMAtOutCoords();
  setOutput(m + w1 * (g - m));
}`;

const SECOND_MOMENT = `void main() {
  float g = getGAtOutCoords();
  setOutput(beta2 * getVAtOutCoords() + w2 * g * g);
}`;

// g² / max(v', ε²) from the already updated v'.
const RATIO = `void main() {
  float g = getGAtOutCoords();
  setOutput(g * g / max(getVAtOutCoords(), epsSq));
}`;

// RMS and the clipped lr are computed here, per fragment, from the on-device sum: nothing is read back.
const UPDATE = `void main() {
  float rms = sqrt(getS() / numel);
  float eta = (!isnan(rms) && rms > 1.0) ? lr / rms : lr;
  float decayed = getPAtOutCoords() * (1.0 - eta * decayPerLr);
  setOutput(decayed - eta * getMAtOutCoords() / (sqrt(getVAtOutCoords()) + eps));
}`;

function run(program: GlslProgram, inputs: tf.Tensor[], values: number[]): tf.Tensor {
  const backend = tf.backend() as unknown as WebGLBackendLike;
  const info = backend.compileAndRun(
    program,
    inputs,
    'float32',
    values.map((v) => [v]),
  );
  return tf.engine().makeTensorFromTensorInfo(info);
}

function program(variableNames: string[], outputShape: number[], userCode: string, names: string[]): GlslProgram {
  return { variableNames, outputShape, userCode, customUniforms: uniforms(...names) };
}

/**
 * Both phases as custom WebGL programs: m', v', the ratio g²/max(v', ε²) (then a blocked sum on
 * the GPU), and one update pass that derives RMS and the clipped lr from the summed tensor.
 */
export const webglKernel: StableAdamWKernelV1<tf.Variable, tf.Tensor, TfjsState, tf.Scalar> = {
  updateMoments(_param, grad, state, s: MomentScalars): tf.Scalar {
    const shape = grad.shape;
    const m = run(program(['g', 'm'], shape, FIRST_MOMENT, ['w1']), [grad, state.expAvg], [1 - s.beta1Hat]);
    const v = run(
      program(['g', 'v'], shape, SECOND_MOMENT, ['beta2', 'w2']),
      [grad, state.expAvgSq],
      [s.beta2Hat, 1 - s.beta2Hat],
    );
    state.expAvg.assign(m);
    state.expAvgSq.assign(v);
    m.dispose();
    v.dispose();
    if (!s.reduce) return undefined as unknown as tf.Scalar;
    const ratio = run(program(['g', 'v'], shape, RATIO, ['epsSq']), [grad, state.expAvgSq], [s.epsSq]);
    const sum = blockedSum(ratio);
    ratio.dispose();
    return sum;
  },

  applyUpdate(param, _grad, state, sumSquares, s: UpdateScalars): void {
    const updated = run(
      program(['p', 'm', 'v', 's'], param.shape, UPDATE, ['lr', 'numel', 'eps', 'decayPerLr']),
      [param, state.expAvg, state.expAvgSq, sumSquares],
      [s.lr, s.numel, s.eps, s.weightDecayPerLr],
    );
    param.assign(updated);
    updated.dispose();
    sumSquares.dispose();
  },
};
