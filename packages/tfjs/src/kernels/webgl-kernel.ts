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
  readonly texData: { get(dataId: object): TextureDataLike | undefined };
  unpackTensor?(input: tf.TensorInfo): tf.TensorInfo;
}

/** The backend's record of where a tensor's values live (tfjs-backend-webgl's `TextureData`). */
interface TextureDataLike {
  texture?: unknown;
  texShape?: [number, number];
  isPacked?: boolean;
  slice?: unknown;
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
  ivec2 block = getOutputCoords();
  int first = (block.x * blockCols + block.y) * ${REDUCE_BLOCK};
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

// g² / max(v', ε²) from the already updated v', summed per block in the same pass. Through tfjs's
// samplers: for inputs texelFetch cannot read (values still in host memory, slices, WebGL1).
const RATIO_SUM = blockSum('float g = getG(i) * gradScale;\n  return (g * g) / max(getV(i), epsSq);');

/**
 * RATIO_SUM over two unpacked textures of the same layout, read with `texelFetch` at a (column,
 * row) that advances with the flat index, instead of tfjs's flat-index samplers (an integer
 * division and normalised coordinates per element). Same blocks and summation order as
 * RATIO_SUM (row-major texels are the flat order). For textures of fewer than 4·RUN rows.
 */
const RATIO_SUM_ROWS = `void main() {
  ivec2 block = getOutputCoords();
  int first = (block.x * blockCols + block.y) * ${REDUCE_BLOCK};
  int row = first / texWidth;
  int col = first - row * texWidth;
  float total = 0.0;
  for (int r = 0; r < ${RUN}; r++) {
    float run = 0.0;
    for (int j = 0; j < ${RUN}; j++) {
      if (first + r * ${RUN} + j < len) {
        float gi = texelFetch(g, ivec2(col, row), 0).r * gradScale;
        run += (gi * gi) / max(texelFetch(v, ivec2(col, row), 0).r, epsSq);
      }
      col++;
      if (col == texWidth) {
        col = 0;
        row++;
      }
    }
    total += run;
  }
  setOutput(total);
}`;

/** Most rows of texels one fragment of RATIO_SUM_COLUMNS sums down a column. */
const STRIP = 8 * RUN;

/** Strips of rows of a texture of `rows` rows: at least ~16 (threads split a draw by rows), of RUN to STRIP rows each. */
function stripRows(rows: number): number {
  return Math.min(STRIP, Math.max(RUN, RUN * Math.floor(rows / (16 * RUN))));
}

/**
 * RATIO_SUM over two unpacked textures of the same layout, one fragment per column and strip
 * of `strip` rows (output [⌈rows / strip⌉, columns]): neighbouring fragments read neighbouring
 * texels and nothing wraps: on SwiftShader this pass then costs about one moment pass, walking
 * rows about two.
 */
const RATIO_SUM_COLUMNS = `void main() {
  ivec2 cell = getOutputCoords();
  int col = cell.y;
  int row = cell.x * strip;
  float total = 0.0;
  for (int r = 0; r < strip; r += ${RUN}) {
    float run = 0.0;
    for (int j = 0; j < ${RUN}; j++) {
      if (row * texWidth + col < len) {
        float gi = texelFetch(g, ivec2(col, row), 0).r * gradScale;
        run += (gi * gi) / max(texelFetch(v, ivec2(col, row), 0).r, epsSq);
      }
      row++;
    }
    total += run;
  }
  setOutput(total);
}`;

const PARTIAL_SUM = blockSum('return getX(i);');

// RMS and the clipped lr are computed here, per fragment, from the on-device sum: nothing is read back.
const UPDATE = `void main() {
  float rms = sqrt(getS() / numel);
  float eta = (!isnan(rms) && rms > 1.0) ? lr / rms : lr;
  float decayed = getPAtOutCoords() * (1.0 - eta * decayPerLr);
  setOutput(decayed - (eta * getMAtOutCoords()) / (sqrt(getVAtOutCoords()) + eps));
}`;

/**
 * The texture shape [rows, columns] `a` and `b` share when both are whole, unpacked float
 * textures of the same layout on WebGL2 (so `texelFetch` can read them by coordinates), else
 * undefined: tensors still in host memory and slices go through tfjs's samplers.
 */
function sharedTexShape(a: tf.Tensor, b: tf.Tensor): [number, number] | undefined {
  if (tf.env().getNumber('WEBGL_VERSION') !== 2) return undefined;
  const texData = (tf.backend() as unknown as WebGLBackendLike).texData;
  const [da, db] = [texData.get(a.dataId), texData.get(b.dataId)];
  const plain = (d: TextureDataLike | undefined): d is TextureDataLike & { texShape: [number, number] } =>
    d?.texture != null && d.texShape !== undefined && !d.isPacked && d.slice == null;
  if (!plain(da) || !plain(db)) return undefined;
  const [[ha, wa], [hb, wb]] = [da.texShape, db.texShape];
  return ha === hb && wa === wb ? [ha, wa] : undefined;
}

/**
 * `grad` as an unpacked texture. Gradients from packed ops stay packed in tfjs (lazy unpacking),
 * and tfjs would unpack them again for each of our three programs that read them: one unpack
 * per step instead. The copy is tracked by the enclosing `tidy`.
 */
function unpackedOnce(grad: tf.Tensor): tf.Tensor {
  const backend = tf.backend() as unknown as WebGLBackendLike;
  if (!backend.unpackTensor || !backend.texData.get(grad.dataId)?.isPacked) return grad;
  return tf.engine().makeTensorFromTensorInfo(backend.unpackTensor(grad));
}

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

/**
 * The partial sums of `n` terms (one per REDUCE_BLOCK) as a near-square grid rather than a single
 * row: SwiftShader shades 2×2 quads and splits a draw across threads by rows, so a one-row
 * output leaves half of each quad and all but one thread idle.
 */
function blockGrid(n: number): [number, number] {
  const blocks = Math.ceil(n / REDUCE_BLOCK);
  const cols = Math.ceil(Math.sqrt(blocks));
  return [Math.ceil(blocks / cols), cols];
}

/** Σ g²/max(v', ε²) on the GPU: one fused ratio+block pass, then block passes until one value is left. */
function sumRatio(grad: tf.Tensor, expAvgSq: tf.Tensor, epsSq: number, gradScale: number): tf.Scalar {
  const n = grad.size;
  const flat = [tf.reshape(grad, [n]), tf.reshape(expAvgSq, [n])];
  const texShape = sharedTexShape(grad, expAvgSq);
  const floats = ['epsSq', 'gradScale'];
  let partials: tf.Tensor;
  if (texShape === undefined) {
    const grid = blockGrid(n);
    partials = run(program(['g', 'v'], grid, RATIO_SUM, floats, ['len', 'blockCols']), flat, [epsSq, gradScale, n, grid[1]]);
  } else if (texShape[0] < 4 * RUN) {
    const grid = blockGrid(n);
    partials = run(program(['g', 'v'], grid, RATIO_SUM_ROWS, floats, ['len', 'texWidth', 'blockCols']), flat, [
      epsSq,
      gradScale,
      n,
      texShape[1],
      grid[1],
    ]);
  } else {
    const strip = stripRows(texShape[0]);
    const strips = [Math.ceil(texShape[0] / strip), texShape[1]];
    partials = run(program(['g', 'v'], strips, RATIO_SUM_COLUMNS, floats, ['len', 'texWidth', 'strip']), flat, [
      epsSq,
      gradScale,
      n,
      texShape[1],
      strip,
    ]);
  }
  while (partials.size > 1) {
    // Grid cells past the last block summed nothing (0).
    const size = partials.size;
    const next = blockGrid(size);
    partials = run(program(['x'], next, PARTIAL_SUM, [], ['len', 'blockCols']), [tf.reshape(partials, [size])], [size, next[1]]);
  }
  return tf.reshape(partials, []);
}

/**
 * Both phases as custom WebGL programs: m′ and v′ (one pass each), the RMS sum (a fused
 * g²/max(v′, ε²) + partial-sum pass, then one block pass per 1024× more partials), and one update
 * pass that derives RMS and the clipped lr from the summed tensor. About 6 draws per tensor.
 */
export const webglKernel: StableAdamWKernelV1<tf.Variable, tf.Tensor, TfjsState, tf.Scalar> = {
  updateMoments(_param, grad, state, s: MomentScalars): tf.Scalar {
    return tf.tidy(() => {
      const shape = grad.shape;
      const g = unpackedOnce(grad);
      const m = run(
        program(['g', 'm'], shape, FIRST_MOMENT, ['w1', 'gradScale']),
        [g, state.expAvg],
        [1 - s.beta1Hat, s.gradScale],
      );
      const v = run(
        program(['g', 'v'], shape, SECOND_MOMENT, ['beta2', 'w2', 'gradScale']),
        [g, state.expAvgSq],
        [s.beta2Hat, 1 - s.beta2Hat, s.gradScale],
      );
      state.expAvg.assign(m);
      state.expAvgSq.assign(v);
      // tidy keeps the returned sum and frees everything else (the moments live on in the variables).
      return s.reduce ? sumRatio(g, v, s.epsSq, s.gradScale) : (undefined as unknown as tf.Scalar);
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
