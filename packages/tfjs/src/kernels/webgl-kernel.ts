import type { MomentScalars, StableAdamWKernelV1, UpdateScalars } from '@stable-adamw/core/adapter';
import * as tf from '@tensorflow/tfjs-core';
import type { TfjsState } from '../state.js';
import { frexp } from './device-skip.js';

/** The part of tfjs-backend-webgl's `MathBackendWebGL` these kernels use (kept structural: no hard dependency). */
export interface WebGLBackendLike {
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

export interface GlslProgram {
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
// Phase 1 reads every gradient unscaled (`UNSCALE`: a loss scaler's 1/scale, or 1).
/**
 * g · gradScale as three factors (uniforms, see `unscaleFactors`): two exact powers of two, then a
 * significand. A float32 1/scale is subnormal for a scale ≥ 2^127 and GPUs flush it to zero.
 */
const UNSCALE = `float unscale(float raw) {
  return ((raw * scaleA) * scaleB) * scaleFract;
}
`;
const UNSCALE_UNIFORMS = ['scaleA', 'scaleB', 'scaleFract'];

const FIRST_MOMENT = `${UNSCALE}
void main() {
  float g = unscale(getGAtOutCoords());
  float m = getMAtOutCoords();
  setOutput(m + w1 * (g - m));
}`;

const SECOND_MOMENT = `${UNSCALE}
void main() {
  float g = unscale(getGAtOutCoords());
  setOutput(getVAtOutCoords() * beta2 + w2 * (g * g));
}`;

/** The factors of UNSCALE for `gradScale`: the float32 value itself where it is normal (exact as before), else split. */
export function unscaleFactors(gradScale: number): [number, number, number] {
  if (Math.abs(Math.fround(gradScale)) >= 2 ** -126 || gradScale === 0) return [gradScale, 1, 1];
  const { fract, exp } = frexp(gradScale);
  const half = Math.floor(exp / 2);
  return [2 ** half, 2 ** (exp - half), fract];
}

/**
 * How a reduction pass reads and emits: `plain`, or on the device's skip path (`webgl-device-skip.ts`),
 * where phase 1 runs before the moments and carries a found-non-finite sentinel (a sum of −1).
 */
export interface ReduceMode {
  /** Inputs after the pass's own (g and v, or x). */
  readonly inputs: readonly string[];
  readonly floats: readonly string[];
  readonly ints: readonly string[];
  /** GLSL functions the pass uses. */
  readonly prelude: string;
  /** GLSL run once per fragment before the loops. */
  readonly head: string;
  /** Statements adding the term of raw gradient `g` and second moment `v` to `run`. */
  ratio(g: string, v: string): string;
  /** Statements adding partial sum `x` to `run`. */
  partial(x: string): string;
  /** The fragment's output. */
  readonly out: string;
}

/** The existing path: g²/max(v′, ε²) from the already updated v′. */
export const PLAIN: ReduceMode = {
  inputs: [],
  floats: UNSCALE_UNIFORMS,
  ints: [],
  prelude: UNSCALE,
  head: '',
  ratio: (g, v) => `float gi = unscale(${g});
        run += (gi * gi) / max(${v}, epsSq);`,
  partial: (x) => `run += ${x};`,
  out: 'total',
};

/**
 * One fragment per `perCell` consecutive blocks of `REDUCE_BLOCK` flat elements (the blocks'
 * sums added in order). Two-level accumulation within a block keeps each block sum within
 * ~2·RUN roundings instead of the REDUCE_BLOCK of a single sequential loop. Through tfjs's
 * samplers: for inputs texelFetch cannot read (values still in host memory, slices, WebGL1),
 * and for the passes over partial sums.
 */
function blockSum(term: string, mode: ReduceMode): string {
  return `${mode.prelude}
void main() {
  ${mode.head}
  ivec2 cell = getOutputCoords();
  int first = (cell.x * blockCols + cell.y) * perCell * ${REDUCE_BLOCK};
  float total = 0.0;
  for (int k = 0; k < perCell; k++) {
    float blockTotal = 0.0;
    for (int r = 0; r < ${RUN}; r++) {
      float run = 0.0;
      for (int j = 0; j < ${RUN}; j++) {
        int i = first + r * ${RUN} + j;
        if (i < len) {
          ${term}
        }
      }
      blockTotal += run;
    }
    total += blockTotal;
    first += ${REDUCE_BLOCK};
  }
  setOutput(${mode.out});
}`;
}

const TEXEL_G = 'texelFetch(g, ivec2(col, row), 0).r';
const TEXEL_V = 'texelFetch(v, ivec2(col, row), 0).r';

/**
 * The ratio sum over two unpacked textures of the same layout, read with `texelFetch` at a
 * (column, row) that advances with the flat index, instead of tfjs's flat-index samplers (an
 * integer division and normalised coordinates per element). Same blocks and summation order as
 * `blockSum` (row-major texels are the flat order). For textures of fewer than 4·RUN rows.
 */
function ratioSumRows(mode: ReduceMode): string {
  return `${mode.prelude}
void main() {
  ${mode.head}
  ivec2 block = getOutputCoords();
  int first = (block.x * blockCols + block.y) * ${REDUCE_BLOCK};
  int row = first / texWidth;
  int col = first - row * texWidth;
  float total = 0.0;
  for (int r = 0; r < ${RUN}; r++) {
    float run = 0.0;
    for (int j = 0; j < ${RUN}; j++) {
      if (first + r * ${RUN} + j < len) {
        ${mode.ratio(TEXEL_G, TEXEL_V)}
      }
      col++;
      if (col == texWidth) {
        col = 0;
        row++;
      }
    }
    total += run;
  }
  setOutput(${mode.out});
}`;
}

/** Most rows of texels one fragment of ratioSumColumns sums down a column. */
const STRIP = 8 * RUN;

/** Strips of rows of a texture of `rows` rows: at least ~16 (threads split a draw by rows), of RUN to STRIP rows each. */
function stripRows(rows: number): number {
  return Math.min(STRIP, Math.max(RUN, RUN * Math.floor(rows / (16 * RUN))));
}

/**
 * The ratio sum over two unpacked textures of the same layout, one fragment per column and strip
 * of `strip` rows (output [⌈rows / strip⌉, columns]): neighbouring fragments read neighbouring
 * texels and nothing wraps: on SwiftShader this pass then costs about one moment pass, walking
 * rows about two.
 */
function ratioSumColumns(mode: ReduceMode): string {
  return `${mode.prelude}
void main() {
  ${mode.head}
  ivec2 cell = getOutputCoords();
  int col = cell.y;
  int row = cell.x * strip;
  float total = 0.0;
  for (int r = 0; r < strip; r += ${RUN}) {
    float run = 0.0;
    for (int j = 0; j < ${RUN}; j++) {
      if (row * texWidth + col < len) {
        ${mode.ratio(TEXEL_G, TEXEL_V)}
      }
      row++;
    }
    total += run;
  }
  setOutput(${mode.out});
}`;
}

/**
 * The update pass: RMS and the clipped lr are computed per fragment from the on-device sum `sum`
 * (GLSL), so nothing is read back; `keep` (GLSL, optional) leaves θ as it is (a skipped step).
 */
export function updateCode(sum: string, keep?: string): string {
  return `void main() {
  float theta = getPAtOutCoords();
  ${keep ? `if (${keep}) {\n    setOutput(theta);\n    return;\n  }` : ''}
  float rms = sqrt(${sum} / numel);
  float eta = (!isnan(rms) && rms > 1.0) ? lr / rms : lr;
  float decayed = theta * (1.0 - eta * decayPerLr);
  setOutput(decayed - (eta * getMAtOutCoords()) / (sqrt(getVAtOutCoords()) + eps));
}`;
}

const UPDATE = updateCode('getS()');

/** The update pass's float uniforms, in the order `updateScalars` gives their values. */
export const UPDATE_UNIFORMS = ['lr', 'numel', 'eps', 'decayPerLr'];

export function updateScalars(s: UpdateScalars): number[] {
  return [s.lr, s.numel, s.eps, s.weightDecayPerLr];
}

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
export function unpackedOnce(grad: tf.Tensor): tf.Tensor {
  const backend = tf.backend() as unknown as WebGLBackendLike;
  if (!backend.unpackTensor || !backend.texData.get(grad.dataId)?.isPacked) return grad;
  return tf.engine().makeTensorFromTensorInfo(backend.unpackTensor(grad));
}

/** Runs one program; the result is tracked by the enclosing `tidy`. */
export function run(program: GlslProgram, inputs: tf.Tensor[], values: number[]): tf.Tensor {
  const backend = tf.backend() as unknown as WebGLBackendLike;
  const info = backend.compileAndRun(
    program,
    inputs,
    'float32',
    values.map((v) => [v]),
  );
  return tf.engine().makeTensorFromTensorInfo(info);
}

export function program(
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

/**
 * Most blocks a pass over partial sums adds up in one fragment, leaving the final value: the
 * additions of a pass of one block per fragment and a pass over its ≤ RUN sums, in the same order
 * (so the same result), in one draw (on SwiftShader, in about the time of the two). Up to
 * RUN·REDUCE_BLOCK = 32k partials: what the ratio pass leaves of a tensor of up to 4M elements.
 * The ratio pass itself keeps one block per fragment: one fragment summing 8k ratio terms took
 * ~40% longer there than 9 fragments and a second draw.
 */
const FINISH_BLOCKS = RUN;

/** The grid of a block pass over `n` terms and the blocks each fragment sums: one fragment for at most `finish` blocks. */
function blockLayout(n: number, finish: number): { grid: [number, number]; perCell: number } {
  const blocks = Math.ceil(n / REDUCE_BLOCK);
  return blocks <= finish ? { grid: [1, 1], perCell: blocks } : { grid: blockGrid(n), perCell: 1 };
}

/** Extra inputs and uniform values (in `ReduceMode` order) of one reduction pass. */
export interface PassExtras {
  readonly inputs: tf.Tensor[];
  readonly floats: number[];
  readonly ints: number[];
}

/** A reduction's modes for the ratio pass and the partial-sum passes, and their extras (`final`: the pass that leaves one value). */
export interface Reduction {
  readonly ratio: ReduceMode;
  readonly partial: ReduceMode;
  extras(kind: 'ratio' | 'partial', final: boolean): PassExtras;
}

function plainReduction(gradScale: number): Reduction {
  const none: PassExtras = { inputs: [], floats: [], ints: [] };
  return {
    ratio: PLAIN,
    partial: { ...PLAIN, floats: [], prelude: '' },
    extras: (kind) => (kind === 'ratio' ? { ...none, floats: unscaleFactors(gradScale) } : none),
  };
}

/**
 * Σ g²/max(v′, ε²) on the GPU: one fused ratio+block pass, then block passes until one value is
 * left (a scalar, tracked by the enclosing `tidy`). Tensors of up to 1k elements end in the ratio
 * pass; larger ones take one more pass where the ratio pass leaves ≤ 32k partials (up to 4M
 * elements on a square texture), two beyond.
 */
export function sumRatio(grad: tf.Tensor, expAvgSq: tf.Tensor, epsSq: number, reduction: Reduction): tf.Scalar {
  const n = grad.size;
  const flat = [tf.reshape(grad, [n]), tf.reshape(expAvgSq, [n])];
  const texShape = sharedTexShape(grad, expAvgSq);
  const { ratio, partial } = reduction;
  const pass = (
    kind: 'ratio' | 'partial',
    inputs: tf.Tensor[],
    grid: number[],
    code: string,
    layout: [string, number][],
  ): tf.Tensor => {
    const mode = kind === 'ratio' ? ratio : partial;
    const extras = reduction.extras(kind, grid[0] === 1 && grid[1] === 1);
    const names = kind === 'ratio' ? ['g', 'v'] : ['x'];
    const floats = kind === 'ratio' ? ['epsSq', ...mode.floats] : [...mode.floats];
    const floatValues = kind === 'ratio' ? [epsSq, ...extras.floats] : extras.floats;
    return run(
      program([...names, ...mode.inputs], grid, code, floats, [...layout.map(([name]) => name), ...mode.ints]),
      [...inputs, ...extras.inputs],
      [...floatValues, ...layout.map(([, value]) => value), ...extras.ints],
    );
  };
  let partials: tf.Tensor;
  if (texShape === undefined) {
    const grid = blockGrid(n);
    partials = pass('ratio', flat, grid, blockSum(ratio.ratio('getG(i)', 'getV(i)'), ratio), [
      ['len', n],
      ['blockCols', grid[1]],
      ['perCell', 1],
    ]);
  } else if (texShape[0] < 4 * RUN) {
    const grid = blockGrid(n);
    partials = pass('ratio', flat, grid, ratioSumRows(ratio), [
      ['len', n],
      ['texWidth', texShape[1]],
      ['blockCols', grid[1]],
    ]);
  } else {
    const strip = stripRows(texShape[0]);
    const strips = [Math.ceil(texShape[0] / strip), texShape[1]];
    partials = pass('ratio', flat, strips, ratioSumColumns(ratio), [
      ['len', n],
      ['texWidth', texShape[1]],
      ['strip', strip],
    ]);
  }
  while (partials.size > 1) {
    // Grid cells past the last block summed nothing (0).
    const size = partials.size;
    const { grid, perCell } = blockLayout(size, FINISH_BLOCKS);
    partials = pass('partial', [tf.reshape(partials, [size])], grid, blockSum(partial.partial('getX(i)'), partial), [
      ['len', size],
      ['blockCols', grid[1]],
      ['perCell', perCell],
    ]);
  }
  return tf.reshape(partials, []);
}

/**
 * Both phases as custom WebGL programs: m′ and v′ (one pass each), the RMS sum (a fused
 * g²/max(v′, ε²) + partial-sum pass, and one pass finishing the sum where needed), and one update
 * pass that derives RMS and the clipped lr from the summed tensor: 4 draws per tensor of up to 1k
 * elements, 5 for larger ones up to about 4M elements, 6 beyond.
 */
export const webglKernel: StableAdamWKernelV1<tf.Variable, tf.Tensor, TfjsState, tf.Scalar> = {
  updateMoments(_param, grad, state, s: MomentScalars): tf.Scalar {
    return tf.tidy(() => {
      const shape = grad.shape;
      const g = unpackedOnce(grad);
      const m = run(
        program(['g', 'm'], shape, FIRST_MOMENT, ['w1', ...UNSCALE_UNIFORMS]),
        [g, state.expAvg],
        [1 - s.beta1Hat, ...unscaleFactors(s.gradScale)],
      );
      const v = run(
        program(['g', 'v'], shape, SECOND_MOMENT, ['beta2', 'w2', ...UNSCALE_UNIFORMS]),
        [g, state.expAvgSq],
        [s.beta2Hat, 1 - s.beta2Hat, ...unscaleFactors(s.gradScale)],
      );
      state.expAvg.assign(m);
      state.expAvgSq.assign(v);
      // tidy keeps the returned sum and frees everything else (the moments live on in the variables).
      return s.reduce ? sumRatio(g, v, s.epsSq, plainReduction(s.gradScale)) : (undefined as unknown as tf.Scalar);
    });
  },

  applyUpdate(param, _grad, state, sumSquares, s: UpdateScalars): void {
    tf.tidy(() => {
      const updated = run(
        program(['p', 'm', 'v', 's'], param.shape, UPDATE, UPDATE_UNIFORMS),
        [param, state.expAvg, state.expAvgSq, sumSquares],
        updateScalars(s),
      );
      param.assign(updated);
    });
    sumSquares.dispose();
  },
};
