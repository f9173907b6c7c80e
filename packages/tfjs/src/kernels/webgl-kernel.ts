import type { MomentScalars, StableAdamWKernelV1, UpdateScalars } from '@stable-adamw/core/adapter';
import * as tf from '@tensorflow/tfjs-core';
import type { TfjsState } from '../state.js';

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
  customUniforms: { name: string; type: 'float' | 'int' }[];
}

/** Each reduction fragment sums `RUN × RUN` terms: RUN sequential runs of RUN terms, then the runs. */
const RUN = 32;
const REDUCE_BLOCK = RUN * RUN;

// Each program is one pass; tfjs caches the compiled shader by its source and input layouts, so
// building the program object per call costs nothing after the first step.
// Phase 1 reads every gradient as g·gradScale (a loss scaler's unscale, or 1).
const FIRST_MOMENT = `void main() {
  float g = getGAtOutCoords() * gradScale;
  float m = getMAtOutCoords();
  setOutput(m + w1 * (g - m));
}`;

const SECOND_MOMENT = `void main() {
  float g = getGAtOutCoords() * gradScale;
  setOutput(getVAtOutCoords() * beta2 + w2 * (g * g));
}`;

/**
 * One fragment per block of `REDUCE_BLOCK` flat elements. Two-level accumulation keeps each
 * partial within ~2·RUN roundings instead of the REDUCE_BLOCK of a single sequential loop.
 */
function blockSum(term: string): string {
  return `float sumTerm(int i) {
  ${term}
}

void main() {
  int first = getOutputCoords() * ${REDUCE_BLOCK};
  float total = 0.0;
  for (int r = 0; r < ${RUN}; r++) {
    float run = 0.0;
    for (int j = 0; j < ${RUN}; j++) {
      int i = first + r * ${RUN} + j;
      if (i < len) {
        run += sumTerm(i);
      }
    }
    total += run;
  }
  setOutput(total);
}`;
}

// g² / max(v', ε²) from the already updated v', summed per block in the same pass.
const RATIO_SUM = blockSum('float g = getG(i) * gradScale;\n  return (g * g) / max(getV(i), epsSq);');

const PARTIAL_SUM = blockSum('return getX(i);');

// RMS and the clipped lr are computed here, per fragment, from the on-device sum: nothing is read back.
const UPDATE = `void main() {
  float rms = sqrt(getS() / numel);
  float eta = (!isnan(rms) && rms > 1.0) ? lr / rms : lr;
  float decayed = getPAtOutCoords() * (1.0 - eta * decayPerLr);
  setOutput(decayed - (eta * getMAtOutCoords()) / (sqrt(getVAtOutCoords()) + eps));
}`;

/** Runs one program; the result is tracked by the enclosing `tidy`. */
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

function program(
  variableNames: string[],
  outputShape: number[],
  userCode: string,
  floats: string[],
  ints: string[] = [],
): GlslProgram {
  return {
    variableNames,
    outputShape,
    userCode,
    customUniforms: [
      ...floats.map((name) => ({ name, type: 'float' as const })),
      ...ints.map((name) => ({ name, type: 'int' as const })),
    ],
  };
}

/** Σ g²/max(v', ε²) on the GPU: one fused ratio+block pass, then block passes until one value is left. */
function sumRatio(grad: tf.Tensor, expAvgSq: tf.Tensor, epsSq: number, gradScale: number): tf.Scalar {
  const n = grad.size;
  let partials = run(
    program(['g', 'v'], [Math.ceil(n / REDUCE_BLOCK)], RATIO_SUM, ['epsSq', 'gradScale'], ['len']),
    [tf.reshape(grad, [n]), tf.reshape(expAvgSq, [n])],
    [epsSq, gradScale, n],
  );
  while (partials.size > 1) {
    const size = partials.size;
    partials = run(program(['x'], [Math.ceil(size / REDUCE_BLOCK)], PARTIAL_SUM, [], ['len']), [partials], [size]);
  }
  return tf.reshape(partials, []);
}

/**
 * Both phases as custom WebGL programs: m′ and v′ (one pass each), the RMS sum (a fused
 * g²/max(v′, ε²) + block pass, plus one more pass per 1024× more elements), and one update pass
 * that derives RMS and the clipped lr from the summed tensor.
 */
export const webglKernel: StableAdamWKernelV1<tf.Variable, tf.Tensor, TfjsState, tf.Scalar> = {
  updateMoments(_param, grad, state, s: MomentScalars): tf.Scalar {
    return tf.tidy(() => {
      const shape = grad.shape;
      const m = run(
        program(['g', 'm'], shape, FIRST_MOMENT, ['w1', 'gradScale']),
        [grad, state.expAvg],
        [1 - s.beta1Hat, s.gradScale],
      );
      const v = run(
        program(['g', 'v'], shape, SECOND_MOMENT, ['beta2', 'w2', 'gradScale']),
        [grad, state.expAvgSq],
        [s.beta2Hat, 1 - s.beta2Hat, s.gradScale],
      );
      state.expAvg.assign(m);
      state.expAvgSq.assign(v);
      // tidy keeps the returned sum and frees everything else (the moments live on in the variables).
      return s.reduce ? sumRatio(grad, v, s.epsSq, s.gradScale) : (undefined as unknown as tf.Scalar);
    });
  },

  applyUpdate(param, _grad, state, sumSquares, s: UpdateScalars): void {
    tf.tidy(() => {
      const updated = run(
        program(['p', 'm', 'v', 's'], param.shape, UPDATE, ['lr', 'numel', 'eps', 'decayPerLr']),
        [param, state.expAvg, state.expAvgSq, sumSquares],
        [s.lr, s.numel, s.eps, s.weightDecayPerLr],
      );
      param.assign(updated);
    });
    sumSquares.dispose();
  },
};
