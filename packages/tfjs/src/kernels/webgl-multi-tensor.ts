import { InvalidParamError, UnsupportedBackendError } from '@stable-adamw/core';
import type { TensorStep } from '@stable-adamw/core/adapter';
import * as tf from '@tensorflow/tfjs-core';
import type { TfjsState } from '../state.js';
import { unscaleFactors, webglKernel } from './webgl-kernel.js';

/**
 * tfjs-webgl, fused and multi-tensor: every tensor of a step goes through the same four draws,
 * issued with raw WebGL2 on the context tfjs-backend-webgl already holds (the model is
 * `webgpu-multi-tensor.ts`).
 *
 * Layout. A draw writes one render target per output, so a constant draw count needs every tensor
 * of a batch in the same few textures. tfjs keeps an unpacked float32 tensor in an R32F texture
 * whose texels are its values in row-major order (`texShape` [rows, columns], the last row
 * possibly padded). Each tensor's rectangle is placed in an atlas (guillotine packing), and its
 * g, θ, m and v are gathered into four R32F atlases with `copyTexSubImage2D` (a copy, not a draw).
 * Per-tensor data lives in two small tables: integers (rectangle, length, first partial, partial
 * count) and floats (the step's scalars).
 *
 * Draws (optimi-spec §1):
 * 1. moments (two render targets): g ← g·gradScale; m′ = m + (1−β̂1)(g − m); v′ = β̂2·v + (1−β̂2)·g².
 *    One quad per tensor in a single `drawArrays` (vertices from `gl_VertexID` and the table).
 * 2. partials: one fragment per column strip of up to 256 rows (tall rectangles) or per block of
 *    1024 elements (flat ones) sums g²/max(v′, ε²) in runs of 32 terms (see `partialsOf`).
 * 3. totals: one fragment per tensor adds its partials (runs of 32, 32 runs a group, then the groups).
 * 4. update: RMS = √(total/n); η = lr / max(1, RMS) (NaN: no clip); θ ← θ·(1 − η·λ′) − η·m′/(√v′ + ε),
 *    written into the gradient atlas (free by then).
 * Then θ′, m′ and v′ are copied back into the variables' own textures (or fresh ones where another
 * tensor shares the data). Nothing is read back; the atlases come from tfjs's texture pool and go
 * back to it after the step, so a steady model reuses the same textures every step.
 *
 * Tensors that are not in this layout (a packed or sliced param or moment, texShapes that differ,
 * half-float textures) take the per-variable programs of `webgl-kernel.ts`; packed gradients are
 * unpacked first (one tfjs program each).
 */

/** Elements each fragment of the partial pass sums: RUN runs of RUN terms. */
const RUN = 32;
const BLOCK = RUN * RUN;
/** Most rows one fragment of the partial pass sums down a column. */
const STRIP = 8 * RUN;
/** Width of the partial-sum texture. */
const PARTIAL_WIDTH = 1024;
/** tfjs-backend-webgl's `TextureUsage.RENDER`: textures our draws render into. */
const USAGE_RENDER = 0;

/** A texture tfjs's texture manager hands out (`{texture, texShape: [height, width]}`). */
interface ManagedTexture {
  texture: WebGLTexture;
  texShape: [number, number];
}

/** The part of tfjs-backend-webgl's `TextureData` used here. */
interface TexData {
  texture?: ManagedTexture | null;
  texShape?: [number, number] | null;
  isPacked?: boolean;
  slice?: unknown;
  values?: unknown;
  usage?: number | null;
}

/** The part of tfjs-backend-webgl's `MathBackendWebGL` used here (structural: no hard dependency). */
export interface WebGLMultiBackendLike {
  readonly gpgpu: {
    readonly gl: WebGL2RenderingContext;
    readonly textureConfig: { internalFormatFloat: number };
  };
  readonly texData: { get(dataId: object): TexData | undefined };
  getTextureManager(): {
    acquireTexture(shapeRC: [number, number], usage: number, isPacked: boolean): ManagedTexture;
    releaseTexture(texture: ManagedTexture, shape: [number, number], usage: number, isPacked: boolean): void;
  };
  uploadToGPU(dataId: object): void;
  unpackTensor(input: tf.TensorInfo): tf.TensorInfo;
  refCount(dataId: object): number;
  makeTensorInfo(shape: number[], dtype: 'float32'): tf.TensorInfo;
  disposeData(dataId: object, force?: boolean): boolean;
}

/** The active backend as tfjs-backend-webgl's on WebGL2, when it is one. */
export function activeWebGL2(): WebGLMultiBackendLike | undefined {
  const backend = tf.backend() as unknown as Partial<WebGLMultiBackendLike>;
  const ok = tf.getBackend() === 'webgl' && tf.env().getNumber('WEBGL_VERSION') === 2 && backend.gpgpu?.gl;
  return ok ? (backend as WebGLMultiBackendLike) : undefined;
}

const VERSION = `#version 300 es
precision highp float;
precision highp int;
precision highp sampler2D;
precision highp isampler2D;
`;

/** One quad per tensor: vertex `6t + c` is corner c of tensor t's rectangle (counter-clockwise: tfjs culls back faces). */
const RECT_VERTEX = `${VERSION}
uniform isampler2D ints;
uniform vec2 atlasSize;
flat out int tensor;
void main() {
  int t = gl_VertexID / 6;
  int c = gl_VertexID - 6 * t;
  ivec4 rect = texelFetch(ints, ivec2(t, 0), 0);
  vec2 corner = vec2(c == 1 || c == 2 || c == 4 ? 1.0 : 0.0, c == 2 || c == 4 || c == 5 ? 1.0 : 0.0);
  gl_Position = vec4((vec2(rect.xy) + vec2(rect.zw) * corner) / atlasSize * 2.0 - 1.0, 0.0, 1.0);
  tensor = t;
}`;

/** One quad over the whole render target. */
const FULL_VERTEX = `${VERSION}
void main() {
  int c = gl_VertexID;
  vec2 corner = vec2(c == 1 || c == 2 || c == 4 ? 1.0 : 0.0, c == 2 || c == 4 || c == 5 ? 1.0 : 0.0);
  gl_Position = vec4(corner * 2.0 - 1.0, 0.0, 1.0);
}`;

/** Float table rows: 0 (1−β̂1, β̂2, 1−β̂2, ε²), 1 (lr, ε, λ′, n), 2 (the three unscale factors). */
const UNSCALE = `float unscale(float raw, int t) {
  vec4 s = texelFetch(floats, ivec2(t, 2), 0);
  return ((raw * s.x) * s.y) * s.z;
}`;

const MOMENTS = `${VERSION}
uniform sampler2D g, m, v, floats;
flat in int tensor;
layout(location = 0) out float mOut;
layout(location = 1) out float vOut;
${UNSCALE}
void main() {
  ivec2 at = ivec2(gl_FragCoord.xy);
  vec4 s = texelFetch(floats, ivec2(tensor, 0), 0);
  float gi = unscale(texelFetch(g, at, 0).r, tensor);
  float mi = texelFetch(m, at, 0).r;
  mOut = mi + s.x * (gi - mi);
  vOut = texelFetch(v, at, 0).r * s.y + s.z * (gi * gi);
}`;

/** Int table rows: 0 (x, y, columns, rows of the rectangle), 1 (length, first partial, partials, strip rows or 0). */
const TENSOR_OF = `int tensorOf(int p) {
  int lo = 0;
  int hi = tensorCount - 1;
  while (lo < hi) {
    int mid = (lo + hi + 1) / 2;
    if (texelFetch(ints, ivec2(mid, 1), 0).y <= p) lo = mid; else hi = mid - 1;
  }
  return lo;
}`;

const PARTIALS = `${VERSION}
uniform sampler2D g, v, floats;
uniform isampler2D ints;
uniform int tensorCount, partialCount;
out float total;
${UNSCALE}
${TENSOR_OF}
void main() {
  ivec2 cell = ivec2(gl_FragCoord.xy);
  int p = cell.y * ${PARTIAL_WIDTH} + cell.x;
  total = 0.0;
  if (p >= partialCount) return;
  int t = tensorOf(p);
  ivec4 rect = texelFetch(ints, ivec2(t, 0), 0);
  ivec4 info = texelFetch(ints, ivec2(t, 1), 0);
  float epsSq = texelFetch(floats, ivec2(t, 0), 0).w;
  int k = p - info.y;
  if (info.w > 0) {
    // A strip of info.w rows of one column: neighbouring fragments read neighbouring texels.
    int col = k % rect.z;
    int row = (k / rect.z) * info.w;
    int end = min(row + info.w, rect.w);
    for (; row < end; row += ${RUN}) {
      float run = 0.0;
      for (int r = row; r < min(row + ${RUN}, end); r++) {
        if (r * rect.z + col < info.x) {
          ivec2 at = rect.xy + ivec2(col, r);
          float gi = unscale(texelFetch(g, at, 0).r, t);
          run += (gi * gi) / max(texelFetch(v, at, 0).r, epsSq);
        }
      }
      total += run;
    }
    return;
  }
  int first = k * ${BLOCK};
  int row = first / rect.z;
  int col = first - row * rect.z;
  for (int r = 0; r < ${RUN}; r++) {
    float run = 0.0;
    for (int j = 0; j < ${RUN}; j++) {
      if (first + r * ${RUN} + j < info.x) {
        ivec2 at = rect.xy + ivec2(col, row);
        float gi = unscale(texelFetch(g, at, 0).r, t);
        run += (gi * gi) / max(texelFetch(v, at, 0).r, epsSq);
      }
      col++;
      if (col == rect.z) {
        col = 0;
        row++;
      }
    }
    total += run;
  }
}`;

/** A tensor's partials: runs of RUN, RUN runs to a group, then the groups. */
const TOTALS = `${VERSION}
uniform sampler2D partials;
uniform isampler2D ints;
out float total;
void main() {
  int t = int(gl_FragCoord.x);
  ivec4 info = texelFetch(ints, ivec2(t, 1), 0);
  int end = info.y + info.z;
  total = 0.0;
  for (int group = info.y; group < end; group += ${BLOCK}) {
    float groupTotal = 0.0;
    for (int q = group; q < min(group + ${BLOCK}, end); q += ${RUN}) {
      float run = 0.0;
      for (int k = q; k < min(q + ${RUN}, end); k++) {
        run += texelFetch(partials, ivec2(k % ${PARTIAL_WIDTH}, k / ${PARTIAL_WIDTH}), 0).r;
      }
      groupTotal += run;
    }
    total += groupTotal;
  }
}`;

const UPDATE = `${VERSION}
uniform sampler2D p, m, v, totals, floats;
flat in int tensor;
out float theta;
void main() {
  ivec2 at = ivec2(gl_FragCoord.xy);
  vec4 s = texelFetch(floats, ivec2(tensor, 1), 0);
  float rms = sqrt(texelFetch(totals, ivec2(tensor, 0), 0).r / s.w);
  // A NaN rms fails the comparison: no clipping, as in the reference.
  float eta = rms > 1.0 ? s.x / rms : s.x;
  float decayed = texelFetch(p, at, 0).r * (1.0 - eta * s.z);
  theta = decayed - (eta * texelFetch(m, at, 0).r) / (sqrt(texelFetch(v, at, 0).r) + s.y);
}`;

interface Program {
  readonly program: WebGLProgram;
  readonly uniforms: Map<string, WebGLUniformLocation | null>;
}

/** Programs, framebuffers, an attribute-less vertex array and the two table textures of one context. */
interface Resources {
  readonly moments: Program;
  readonly partials: Program;
  readonly totals: Program;
  readonly update: Program;
  readonly vao: WebGLVertexArrayObject;
  readonly readFbo: WebGLFramebuffer;
  readonly drawFbo: WebGLFramebuffer;
  readonly ints: WebGLTexture;
  readonly floats: WebGLTexture;
  /** Layouts by the step's texShapes: a steady model plans once. */
  readonly plans: Map<string, Batch[]>;
}

const resources = new WeakMap<WebGL2RenderingContext, Resources>();

function compile(gl: WebGL2RenderingContext, vertex: string, fragment: string, names: readonly string[]): Program {
  const program = gl.createProgram() as WebGLProgram;
  for (const [type, source] of [
    [gl.VERTEX_SHADER, vertex],
    [gl.FRAGMENT_SHADER, fragment],
  ] as const) {
    const shader = gl.createShader(type) as WebGLShader;
    gl.shaderSource(shader, source);
    gl.compileShader(shader);
    gl.attachShader(program, shader);
    gl.deleteShader(shader);
  }
  gl.linkProgram(program);
  if (!gl.getProgramParameter(program, gl.LINK_STATUS)) {
    const log = gl.getProgramInfoLog(program);
    gl.deleteProgram(program);
    throw new UnsupportedBackendError(`the WebGL multi-tensor programs did not link (${log})`, "Use kernel: 'composed'.");
  }
  return { program, uniforms: new Map(names.map((name) => [name, gl.getUniformLocation(program, name)])) };
}

function tableTexture(gl: WebGL2RenderingContext): WebGLTexture {
  const texture = gl.createTexture() as WebGLTexture;
  gl.bindTexture(gl.TEXTURE_2D, texture);
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.NEAREST);
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.NEAREST);
  return texture;
}

function resourcesFor(gl: WebGL2RenderingContext): Resources {
  const cached = resources.get(gl);
  if (cached) return cached;
  const built: Resources = {
    moments: compile(gl, RECT_VERTEX, MOMENTS, ['ints', 'atlasSize', 'g', 'm', 'v', 'floats']),
    partials: compile(gl, FULL_VERTEX, PARTIALS, ['ints', 'g', 'v', 'floats', 'tensorCount', 'partialCount']),
    totals: compile(gl, FULL_VERTEX, TOTALS, ['ints', 'partials']),
    update: compile(gl, RECT_VERTEX, UPDATE, ['ints', 'atlasSize', 'p', 'm', 'v', 'totals', 'floats']),
    vao: gl.createVertexArray() as WebGLVertexArrayObject,
    readFbo: gl.createFramebuffer() as WebGLFramebuffer,
    drawFbo: gl.createFramebuffer() as WebGLFramebuffer,
    ints: tableTexture(gl),
    floats: tableTexture(gl),
    plans: new Map(),
  };
  resources.set(gl, built);
  return built;
}

/** Where a tensor's rectangle sits in its batch's atlas. */
interface Placement {
  readonly index: number;
  readonly x: number;
  readonly y: number;
  readonly cols: number;
  readonly rows: number;
}

/** Tensors sharing one set of atlases (`width` × `height`). */
interface Batch {
  readonly placements: Placement[];
  readonly width: number;
  readonly height: number;
}

type Rect = { x: number; y: number; w: number; h: number };

/**
 * Guillotine packing of `rects` ([rows, cols], in the order given) into a `width` × `height` bin:
 * each goes into the free rectangle it fills best, whose rest is split along the shorter leftover.
 * Returns the placements and the indices that did not fit.
 */
function pack(
  rects: readonly { index: number; rows: number; cols: number }[],
  width: number,
  height: number,
): { placed: Placement[]; rest: number[] } {
  const free: Rect[] = [{ x: 0, y: 0, w: width, h: height }];
  const placed: Placement[] = [];
  const rest: number[] = [];
  for (const { index, rows, cols } of rects) {
    let best = -1;
    for (let f = 0; f < free.length; f++) {
      const r = free[f] as Rect;
      if (r.w >= cols && r.h >= rows && (best < 0 || r.w * r.h < (free[best] as Rect).w * (free[best] as Rect).h)) best = f;
    }
    if (best < 0) {
      rest.push(index);
      continue;
    }
    const r = free[best] as Rect;
    free.splice(best, 1);
    placed.push({ index, x: r.x, y: r.y, cols, rows });
    const [dw, dh] = [r.w - cols, r.h - rows];
    const splitAcross = dw < dh;
    const right = { x: r.x + cols, y: r.y, w: dw, h: splitAcross ? rows : r.h };
    const below = { x: r.x, y: r.y + rows, w: splitAcross ? r.w : cols, h: dh };
    for (const part of [right, below]) if (part.w > 0 && part.h > 0) free.push(part);
  }
  return { placed, rest };
}

function bounds(placed: readonly Placement[]): [number, number] {
  let [w, h] = [1, 1];
  for (const p of placed) {
    w = Math.max(w, p.x + p.cols);
    h = Math.max(h, p.y + p.rows);
  }
  return [w, h];
}

/**
 * Batches of atlases for rectangles ([rows, cols]) of at most `max` texels a side: tallest first;
 * each batch takes what fits in a `max` × `max` bin, then the narrowest bin width (in steps of
 * 256) that still holds them all, which keeps the atlases near the model's own size.
 */
export function planBatches(shapes: readonly [number, number][], max: number, maxTensors: number): Batch[] {
  const order = shapes
    .map(([rows, cols], index) => ({ index, rows, cols }))
    .sort((a, b) => b.rows - a.rows || b.cols - a.cols || a.index - b.index);
  const batches: Batch[] = [];
  let pending = order;
  while (pending.length > 0) {
    const head = pending.slice(0, maxTensors);
    const { placed, rest } = pack(head, max, max);
    const inBatch = new Set(placed.map((p) => p.index));
    let best = { placements: placed, width: bounds(placed)[0], height: bounds(placed)[1] };
    const widest = Math.max(...placed.map((p) => p.cols));
    for (let width = Math.ceil(widest / 256) * 256; width < best.width; width += 256) {
      const tried = pack(
        head.filter((r) => inBatch.has(r.index)),
        width,
        max,
      );
      const [w, h] = bounds(tried.placed);
      if (tried.rest.length === 0 && w * h < best.width * best.height) best = { placements: tried.placed, width: w, height: h };
    }
    batches.push(best);
    const left = new Set(rest);
    pending = [...pending.slice(maxTensors), ...head.filter((r) => left.has(r.index))];
    if (placed.length === 0) throw new RangeError('a tensor rectangle does not fit an atlas');
  }
  return batches;
}

type Step = TensorStep<tf.Variable, tf.Tensor, TfjsState>;

/** One tensor of the batched path: its four textures and where θ′, m′, v′ go. */
interface Resident {
  readonly step: Step;
  readonly texShape: [number, number];
  /** g, θ, m, v. */
  readonly sources: readonly [WebGLTexture, WebGLTexture, WebGLTexture, WebGLTexture];
  /** θ, m, v: their own textures, or fresh tensors' where another tensor shares the data. */
  readonly targets: readonly Target[];
}

interface Target {
  readonly variable: tf.Variable;
  readonly texture: WebGLTexture;
  readonly fresh?: tf.TensorInfo;
}

function texDataOf(backend: WebGLMultiBackendLike, tensor: tf.TensorInfo, label: string, fix: string): TexData {
  if ((tensor as tf.Tensor).isDisposed) throw new InvalidParamError(label, 'is disposed', fix);
  backend.uploadToGPU(tensor.dataId);
  return backend.texData.get(tensor.dataId) as TexData;
}

/** Whether `data` is a whole, unpacked float texture (its texels the values in order). */
function plain(data: TexData): data is TexData & { texture: ManagedTexture; texShape: [number, number] } {
  return data.texture != null && data.texShape != null && !data.isPacked && data.slice == null;
}

/** A texture θ, m or v is written back into: its own, or a fresh tensor's where other tensors share the data. */
function targetOf(backend: WebGLMultiBackendLike, variable: tf.Variable, own: WebGLTexture, texShape: [number, number]): Target {
  if (backend.refCount(variable.dataId) <= 1) return { variable, texture: own };
  const fresh = backend.makeTensorInfo([...variable.shape], 'float32');
  const data = backend.texData.get(fresh.dataId) as TexData;
  data.texShape = [...texShape];
  data.usage = USAGE_RENDER;
  backend.uploadToGPU(fresh.dataId);
  return { variable, texture: (data.texture as ManagedTexture).texture, fresh };
}

/** The GL state tfjs relies on, saved before our commands and put back after them. */
function saveState(gl: WebGL2RenderingContext, units: number): () => void {
  const program = gl.getParameter(gl.CURRENT_PROGRAM);
  const vao = gl.getParameter(gl.VERTEX_ARRAY_BINDING);
  const drawFbo = gl.getParameter(gl.DRAW_FRAMEBUFFER_BINDING);
  const readFbo = gl.getParameter(gl.READ_FRAMEBUFFER_BINDING);
  const viewport = gl.getParameter(gl.VIEWPORT) as Int32Array;
  const scissor = gl.getParameter(gl.SCISSOR_BOX) as Int32Array;
  const scissorTest = gl.isEnabled(gl.SCISSOR_TEST);
  const active = gl.getParameter(gl.ACTIVE_TEXTURE);
  const textures = Array.from({ length: units }, (_, u) => {
    gl.activeTexture(gl.TEXTURE0 + u);
    return gl.getParameter(gl.TEXTURE_BINDING_2D);
  });
  return () => {
    textures.forEach((texture, u) => {
      gl.activeTexture(gl.TEXTURE0 + u);
      gl.bindTexture(gl.TEXTURE_2D, texture);
    });
    gl.activeTexture(active);
    if (scissorTest) gl.enable(gl.SCISSOR_TEST);
    else gl.disable(gl.SCISSOR_TEST);
    gl.scissor(scissor[0] as number, scissor[1] as number, scissor[2] as number, scissor[3] as number);
    gl.viewport(viewport[0] as number, viewport[1] as number, viewport[2] as number, viewport[3] as number);
    gl.bindFramebuffer(gl.READ_FRAMEBUFFER, readFbo);
    gl.bindFramebuffer(gl.DRAW_FRAMEBUFFER, drawFbo);
    gl.bindVertexArray(vao);
    gl.useProgram(program);
  };
}

/** Texture units our draws bind (the most samplers one program reads). */
const UNITS = 6;

/**
 * One step of every tensor in `steps` on tfjs-webgl (WebGL2): validated and laid out first (a
 * throw there changes nothing), then 4 draws per batch (every tensor of a typical model in one
 * batch), then θ′, m′, v′ copied into the variables' textures once every batch has drawn. Tensors
 * outside the layout take the per-variable programs afterwards. Returns the number of batches.
 */
export function stepWebGLMultiTensor(backend: WebGLMultiBackendLike, steps: readonly Step[]): number {
  const { gl } = backend.gpgpu;
  // A lost context is the optimizer's to find (before and after the step, see device-guard.ts).
  const unpacked: tf.TensorInfo[] = [];
  const residents: Resident[] = [];
  const single: Step[] = [];
  let adopted = false;
  try {
    const floatTextures = backend.gpgpu.textureConfig.internalFormatFloat === gl.R32F;
    for (const step of steps) {
      const label = step.info.name ?? 'param';
      const stateFix = 'The optimizer state was disposed: build a new optimizer.';
      let grad: tf.TensorInfo = step.grad;
      let g = texDataOf(backend, grad, `gradient of ${label}`, 'Pass a live float32 tf.Tensor.');
      const p = texDataOf(backend, step.param, label, 'Keep the variable alive while the optimizer uses it.');
      const m = texDataOf(backend, step.state.expAvg, `${label} exp_avg`, stateFix);
      const v = texDataOf(backend, step.state.expAvgSq, `${label} exp_avg_sq`, stateFix);
      if (g.isPacked && floatTextures) {
        grad = backend.unpackTensor(grad);
        unpacked.push(grad);
        g = backend.texData.get(grad.dataId) as TexData;
      }
      const same = (d: TexData) => d.texShape?.[0] === p.texShape?.[0] && d.texShape?.[1] === p.texShape?.[1];
      if (!floatTextures || !plain(g) || !plain(p) || !plain(m) || !plain(v) || !same(g) || !same(m) || !same(v)) {
        single.push(step);
        continue;
      }
      const texShape = p.texShape;
      residents.push({
        step,
        texShape,
        sources: [g.texture.texture, p.texture.texture, m.texture.texture, v.texture.texture],
        targets: [
          targetOf(backend, step.param, p.texture.texture, texShape),
          targetOf(backend, step.state.expAvg, m.texture.texture, texShape),
          targetOf(backend, step.state.expAvgSq, v.texture.texture, texShape),
        ],
      });
    }
    const batches = residents.length > 0 ? drawBatches(backend, residents) : 0;
    adopted = true;
    for (const { targets } of residents) {
      for (const { variable, fresh } of targets) {
        if (fresh) {
          const tensor = tf.engine().makeTensorFromTensorInfo(fresh);
          variable.assign(tensor);
          tensor.dispose();
        } else {
          // tfjs would serve the values of the last read again: they are stale now.
          (backend.texData.get(variable.dataId) as TexData).values = null;
        }
      }
    }
    for (const step of single) {
      const sum = webglKernel.updateMoments(step.param, step.grad, step.state, step.moments);
      webglKernel.applyUpdate(step.param, step.grad, step.state, sum, step.update);
    }
    return batches;
  } catch (error) {
    if (!adopted) {
      for (const { targets } of residents) for (const { fresh } of targets) if (fresh) backend.disposeData(fresh.dataId);
    }
    throw error;
  } finally {
    for (const info of unpacked) backend.disposeData(info.dataId);
  }
}

/** Plans (or reuses the plan of) the batches, runs their draws, then copies θ′, m′, v′ out; GL state restored. */
function drawBatches(backend: WebGLMultiBackendLike, residents: readonly Resident[]): number {
  const { gl } = backend.gpgpu;
  const res = resourcesFor(gl);
  const key = residents.map((r) => r.texShape.join('x')).join(',');
  let batches = res.plans.get(key);
  if (!batches) {
    const max = gl.getParameter(gl.MAX_TEXTURE_SIZE) as number;
    batches = planBatches(
      residents.map((r) => r.texShape),
      max,
      max,
    );
    if (res.plans.size >= 16) res.plans.clear();
    res.plans.set(key, batches);
  }
  const manager = backend.getTextureManager();
  const acquired: [ManagedTexture, [number, number]][] = [];
  const acquire = (rows: number, cols: number): WebGLTexture => {
    const shape: [number, number] = [rows, cols];
    const texture = manager.acquireTexture(shape, USAGE_RENDER, false);
    acquired.push([texture, shape]);
    return texture.texture;
  };
  const restore = saveState(gl, UNITS);
  try {
    const scatters = batches.map((batch) => drawBatch(gl, res, batch, residents, acquire));
    for (const scatter of scatters) scatter();
  } catch (error) {
    throw new UnsupportedBackendError(
      `the WebGL multi-tensor step failed (${error instanceof Error ? error.message : String(error)}); parameters and state are unchanged`,
      "Use kernel: 'composed'.",
    );
  } finally {
    restore();
    for (const [texture, shape] of acquired) manager.releaseTexture(texture, shape, USAGE_RENDER, false);
  }
  return batches.length;
}

/**
 * How the partial pass cuts a tensor of `n` elements in a `rows` × `cols` rectangle: rectangles
 * of at least 2·RUN rows in column strips of up to STRIP rows (one partial per strip and column:
 * on SwiftShader, fragments walking rows read texels a block apart and cost about twice as much),
 * others in blocks of BLOCK elements in flat order (`strip` 0).
 */
export function partialsOf(n: number, rows: number, cols: number): { blocks: number; strip: number } {
  if (rows < 2 * RUN) return { blocks: Math.ceil(n / BLOCK), strip: 0 };
  const strip = Math.min(STRIP, RUN * Math.ceil(rows / RUN));
  return { blocks: Math.ceil(rows / strip) * cols, strip };
}

/** Uploads the batch's tables: ints (rectangle; length, first partial, partials) and floats (scalars). */
function uploadTables(gl: WebGL2RenderingContext, res: Resources, residents: readonly Resident[], batch: Batch): number {
  const count = batch.placements.length;
  const ints = new Int32Array(8 * count);
  const floats = new Float32Array(12 * count);
  let partials = 0;
  batch.placements.forEach(({ index, x, y, cols, rows }, t) => {
    const { info, moments, update } = (residents[index] as Resident).step;
    const { blocks, strip } = partialsOf(info.numel, rows, cols);
    ints.set([x, y, cols, rows], 4 * t);
    ints.set([info.numel, partials, blocks, strip], 4 * (count + t));
    floats.set([1 - moments.beta1Hat, moments.beta2Hat, 1 - moments.beta2Hat, moments.epsSq], 4 * t);
    floats.set([update.lr, update.eps, update.weightDecayPerLr, update.numel], 4 * (count + t));
    floats.set([...unscaleFactors(moments.gradScale), 0], 4 * (2 * count + t));
    partials += blocks;
  });
  gl.activeTexture(gl.TEXTURE0);
  gl.bindTexture(gl.TEXTURE_2D, res.ints);
  gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA32I, count, 2, 0, gl.RGBA_INTEGER, gl.INT, ints);
  gl.bindTexture(gl.TEXTURE_2D, res.floats);
  gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA32F, count, 3, 0, gl.RGBA, gl.FLOAT, floats);
  return partials;
}

/** Gathers one batch and runs its 4 draws; returns the copies of θ′, m′, v′ into the targets. */
function drawBatch(
  gl: WebGL2RenderingContext,
  res: Resources,
  batch: Batch,
  residents: readonly Resident[],
  acquire: (rows: number, cols: number) => WebGLTexture,
): () => void {
  const { width, height, placements } = batch;
  const count = placements.length;
  const partialCount = uploadTables(gl, res, residents, batch);
  const [gAtlas, pAtlas, mAtlas, vAtlas, m2, v2] = [0, 1, 2, 3, 4, 5].map(() => acquire(height, width)) as WebGLTexture[];
  const partials = acquire(Math.ceil(partialCount / PARTIAL_WIDTH), Math.min(partialCount, PARTIAL_WIDTH));
  const totals = acquire(1, count);
  const atlases = [gAtlas, pAtlas, mAtlas, vAtlas] as WebGLTexture[];

  // Gather: each source attached to the read framebuffer, copied into its atlas.
  gl.bindFramebuffer(gl.READ_FRAMEBUFFER, res.readFbo);
  gl.activeTexture(gl.TEXTURE0);
  for (const { index, x, y, cols, rows } of placements) {
    const { sources } = residents[index] as Resident;
    sources.forEach((source, k) => {
      gl.framebufferTexture2D(gl.READ_FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, source, 0);
      gl.bindTexture(gl.TEXTURE_2D, atlases[k] as WebGLTexture);
      gl.copyTexSubImage2D(gl.TEXTURE_2D, 0, x, y, 0, 0, cols, rows);
    });
  }

  gl.bindVertexArray(res.vao);
  gl.bindFramebuffer(gl.DRAW_FRAMEBUFFER, res.drawFbo);
  const target = (outputs: readonly WebGLTexture[], w: number, h: number) => {
    outputs.forEach((texture, k) => {
      gl.framebufferTexture2D(gl.DRAW_FRAMEBUFFER, gl.COLOR_ATTACHMENT0 + k, gl.TEXTURE_2D, texture, 0);
    });
    for (let k = outputs.length; k < 2; k++) {
      gl.framebufferTexture2D(gl.DRAW_FRAMEBUFFER, gl.COLOR_ATTACHMENT0 + k, gl.TEXTURE_2D, null, 0);
    }
    gl.drawBuffers(outputs.map((_, k) => gl.COLOR_ATTACHMENT0 + k));
    gl.viewport(0, 0, w, h);
    gl.scissor(0, 0, w, h);
  };
  const use = (program: Program, samplers: Record<string, WebGLTexture>, ints: Record<string, number> = {}) => {
    gl.useProgram(program.program);
    Object.entries(samplers).forEach(([name, texture], unit) => {
      gl.activeTexture(gl.TEXTURE0 + unit);
      gl.bindTexture(gl.TEXTURE_2D, texture);
      gl.uniform1i(program.uniforms.get(name) ?? null, unit);
    });
    for (const [name, value] of Object.entries(ints)) gl.uniform1i(program.uniforms.get(name) ?? null, value);
    const size = program.uniforms.get('atlasSize');
    if (size) gl.uniform2f(size, width, height);
  };

  target([m2, v2] as WebGLTexture[], width, height);
  use(res.moments, { ints: res.ints, floats: res.floats, g: gAtlas, m: mAtlas, v: vAtlas } as Record<string, WebGLTexture>);
  gl.drawArrays(gl.TRIANGLES, 0, 6 * count);

  target([partials], Math.min(partialCount, PARTIAL_WIDTH), Math.ceil(partialCount / PARTIAL_WIDTH));
  use(res.partials, { ints: res.ints, floats: res.floats, g: gAtlas, v: v2 } as Record<string, WebGLTexture>, {
    tensorCount: count,
    partialCount,
  });
  gl.drawArrays(gl.TRIANGLES, 0, 6);

  target([totals], count, 1);
  use(res.totals, { ints: res.ints, partials });
  gl.drawArrays(gl.TRIANGLES, 0, 6);

  // θ′ goes into the gradient atlas: nothing reads it after the partial sums.
  target([gAtlas as WebGLTexture], width, height);
  use(res.update, { ints: res.ints, floats: res.floats, p: pAtlas, m: m2, v: v2, totals } as Record<string, WebGLTexture>);
  gl.drawArrays(gl.TRIANGLES, 0, 6 * count);
  gl.framebufferTexture2D(gl.DRAW_FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, null, 0);

  return () => {
    gl.bindFramebuffer(gl.READ_FRAMEBUFFER, res.readFbo);
    gl.activeTexture(gl.TEXTURE0);
    [gAtlas, m2, v2].forEach((atlas, k) => {
      gl.framebufferTexture2D(gl.READ_FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, atlas as WebGLTexture, 0);
      for (const { index, x, y, cols, rows } of placements) {
        gl.bindTexture(gl.TEXTURE_2D, ((residents[index] as Resident).targets[k] as Target).texture);
        gl.copyTexSubImage2D(gl.TEXTURE_2D, 0, 0, 0, x, y, cols, rows);
      }
    });
    gl.framebufferTexture2D(gl.READ_FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, null, 0);
  };
}
