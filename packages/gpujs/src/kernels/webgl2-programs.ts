// The WebGL2 programs of the `webgl2-programs` path (webgl2-step.ts), in GLSL ES 3.00, run on
// gpu.js's own WebGL2 context. Every tensor is a float texture in gpu.js's layout for an output
// [n]: element i at texel (i mod w, ⌊i / w⌋) of a w × h texture. Each fragment reads its texels
// with `texelFetch` at its own coordinates: gpu.js's generated shaders turn every read into a flat
// index, an integer division and a normalised `texture()` lookup, and on SwiftShader a copy of 4M
// elements took ~3× as long through gpu.js as through `texelFetch` (~450 against ~150 ms).
// Padding texels past n hold whatever was computed there; the sums skip them, nothing reads them back.

const HEADER = `#version 300 es
precision highp float;
precision highp int;
precision highp sampler2D;
`;

/** A triangle covering the viewport, from the vertex index alone: no buffers, no attributes. */
export const VERTEX_SOURCE = `#version 300 es
void main() {
  gl_Position = vec4(float((gl_VertexID & 1) * 4 - 1), float((gl_VertexID & 2) * 2 - 1), 0.0, 1.0);
}`;

/** Terms each partial sum adds before it is added to the next level: float32 error grows with run length. */
export const RUN = 32;

/** Phase 1, both moments in one pass (two render targets), of gradient s·g read as (g·a)·b. */
const MOMENTS_SOURCE = `${HEADER}
uniform sampler2D g;
uniform sampler2D m;
uniform sampler2D v;
uniform float beta1c;
uniform float beta2Hat;
uniform float beta2c;
uniform float gradA;
uniform float gradB;
layout(location = 0) out vec4 mOut;
layout(location = 1) out vec4 vOut;
void main() {
  ivec2 at = ivec2(gl_FragCoord.xy);
  float gi = texelFetch(g, at, 0).r * gradA * gradB;
  float mi = texelFetch(m, at, 0).r;
  mOut = vec4(mi + beta1c * (gi - mi), 0.0, 0.0, 1.0);
  vOut = vec4(texelFetch(v, at, 0).r * beta2Hat + beta2c * (gi * gi), 0.0, 0.0, 1.0);
}`;

const RATIO = `float gj = texelFetch(g, ivec2(col, row), 0).r * gradA * gradB;
        run += (gj * gj) / max(texelFetch(v, ivec2(col, row), 0).r, epsSq);`;

/**
 * Partial sums of (s·g)²/max(v′, ε²), one fragment per column and strip of `strip` rows (a
 * multiple of RUN): neighbouring fragments read neighbouring texels.
 */
const RATIO_STRIPS_SOURCE = `${HEADER}
uniform sampler2D g;
uniform sampler2D v;
uniform float epsSq;
uniform float gradA;
uniform float gradB;
uniform int n;
uniform int width;
uniform int strip;
out vec4 sumOut;
void main() {
  int col = int(gl_FragCoord.x);
  int first = int(gl_FragCoord.y) * strip;
  float total = 0.0;
  for (int r = 0; r < strip; r += ${RUN}) {
    float run = 0.0;
    for (int j = 0; j < ${RUN}; j++) {
      int row = first + r + j;
      if (row * width + col < n) {
        ${RATIO}
      }
    }
    total += run;
  }
  sumOut = vec4(total, 0.0, 0.0, 1.0);
}`;

/** The whole sum of (s·g)²/max(v′, ε²) of a small tensor in one fragment, a row of texels per run. */
const RATIO_WHOLE_SOURCE = `${HEADER}
uniform sampler2D g;
uniform sampler2D v;
uniform float epsSq;
uniform float gradA;
uniform float gradB;
uniform int n;
uniform int width;
uniform int rows;
out vec4 sumOut;
void main() {
  float total = 0.0;
  for (int row = 0; row < rows; row++) {
    float run = 0.0;
    for (int col = 0; col < width; col++) {
      if (row * width + col < n) {
        ${RATIO}
      }
    }
    total += run;
  }
  sumOut = vec4(total, 0.0, 0.0, 1.0);
}`;

/** The sum of a `width` × `rows` texture of partial sums in one fragment: columns, then runs of RUN columns. */
const PARTIALS_SUM_SOURCE = `${HEADER}
uniform sampler2D x;
uniform int width;
uniform int rows;
out vec4 sumOut;
void main() {
  float total = 0.0;
  for (int c = 0; c < width; c += ${RUN}) {
    float run = 0.0;
    for (int col = c; col < min(c + ${RUN}, width); col++) {
      for (int row = 0; row < rows; row++) {
        run += texelFetch(x, ivec2(col, row), 0).r;
      }
    }
    total += run;
  }
  sumOut = vec4(total, 0.0, 0.0, 1.0);
}`;

/**
 * Phase 2: η = lr / max(1, RMS) from the sum in texel (0, 0) of `s` (a NaN RMS does not clip,
 * like optimi), then θ ← θ·(1 − η·decayPerLr) − η·m/(√v + ε).
 */
const UPDATE_SOURCE = `${HEADER}
uniform sampler2D p;
uniform sampler2D m;
uniform sampler2D v;
uniform sampler2D s;
uniform float lr;
uniform float numel;
uniform float eps;
uniform float decayPerLr;
out vec4 pOut;
void main() {
  ivec2 at = ivec2(gl_FragCoord.xy);
  float rms = sqrt(texelFetch(s, ivec2(0, 0), 0).r / numel);
  float clip = 1.0;
  if (rms > 1.0) {
    clip = rms;
  }
  float eta = lr / clip;
  float theta = texelFetch(p, at, 0).r;
  pOut = vec4(theta * (1.0 - eta * decayPerLr) - (eta * texelFetch(m, at, 0).r) / (sqrt(texelFetch(v, at, 0).r) + eps), 0.0, 0.0, 1.0);
}`;

/** Texels in a row of a pack's sums texture, one per tensor (webgl2-pack.ts): few, so that its draw splits by rows. */
export const SUMS_WIDTH = 16;

// The programs over a pack (webgl2-pack.ts): the step's tensors side by side, each a rectangle in
// its own gpu.js layout, in "atlas" textures. `owner` holds each atlas texel's tensor (-1: unused);
// tensor t's integers are texels (0, t) = (x, y, width, n) and (1, t) = (rows, strip rows or 0
// for one whole-sum fragment, strips, first partial slot) of `ints`, its scalars (0, t) = (1 − β̂₁,
// β̂₂, 1 − β̂₂, gradA), (1, t) = (gradB, ε², lr, numel), (2, t) = (ε, decayPerLr) of `floats`.
// Each computes what the per-tensor program above computes for that tensor, in the same order.
const PACKED_HEADER = `${HEADER}precision highp isampler2D;
uniform isampler2D owner;
uniform isampler2D ints;
uniform sampler2D floats;
`;

const PACKED_MOMENTS_SOURCE = `${PACKED_HEADER}
uniform sampler2D g;
uniform sampler2D m;
uniform sampler2D v;
layout(location = 0) out vec4 mOut;
layout(location = 1) out vec4 vOut;
void main() {
  ivec2 at = ivec2(gl_FragCoord.xy);
  int t = texelFetch(owner, at, 0).r;
  if (t < 0) {
    mOut = vec4(0.0, 0.0, 0.0, 1.0);
    vOut = mOut;
    return;
  }
  vec4 f0 = texelFetch(floats, ivec2(0, t), 0);
  float gi = texelFetch(g, at, 0).r * f0.w * texelFetch(floats, ivec2(1, t), 0).r;
  float mi = texelFetch(m, at, 0).r;
  mOut = vec4(mi + f0.x * (gi - mi), 0.0, 0.0, 1.0);
  vOut = vec4(texelFetch(v, at, 0).r * f0.y + f0.z * (gi * gi), 0.0, 0.0, 1.0);
}`;

/**
 * One fragment per partial slot of `slotTable` (tensor, column, strip): a column strip as
 * RATIO_STRIPS_SOURCE sums it, or, for a tensor without strips, its whole sum as RATIO_WHOLE_SOURCE.
 */
const PACKED_PARTIALS_SOURCE = `${PACKED_HEADER}
uniform isampler2D slotTable;
uniform sampler2D g;
uniform sampler2D v;
uniform int slots;
uniform int slotWidth;
out vec4 sumOut;
void main() {
  ivec2 at = ivec2(gl_FragCoord.xy);
  if (at.y * slotWidth + at.x >= slots) {
    sumOut = vec4(0.0, 0.0, 0.0, 1.0);
    return;
  }
  ivec4 slot = texelFetch(slotTable, at, 0);
  int t = slot.x;
  ivec4 a = texelFetch(ints, ivec2(0, t), 0);
  ivec4 b = texelFetch(ints, ivec2(1, t), 0);
  float gradA = texelFetch(floats, ivec2(0, t), 0).w;
  vec4 f1 = texelFetch(floats, ivec2(1, t), 0);
  float gradB = f1.x;
  float epsSq = f1.y;
  int width = a.z;
  int n = a.w;
  float total = 0.0;
  if (b.y == 0) {
    for (int row = 0; row < b.x; row++) {
      float run = 0.0;
      for (int col = 0; col < width; col++) {
        if (row * width + col < n) {
          float gj = texelFetch(g, ivec2(a.x + col, a.y + row), 0).r * gradA * gradB;
          run += (gj * gj) / max(texelFetch(v, ivec2(a.x + col, a.y + row), 0).r, epsSq);
        }
      }
      total += run;
    }
  } else {
    int col = slot.y;
    int first = slot.z * b.y;
    for (int r = 0; r < b.y; r += ${RUN}) {
      float run = 0.0;
      for (int j = 0; j < ${RUN}; j++) {
        int row = first + r + j;
        if (row * width + col < n) {
          float gj = texelFetch(g, ivec2(a.x + col, a.y + row), 0).r * gradA * gradB;
          run += (gj * gj) / max(texelFetch(v, ivec2(a.x + col, a.y + row), 0).r, epsSq);
        }
      }
      total += run;
    }
  }
  sumOut = vec4(total, 0.0, 0.0, 1.0);
}`;

/** One fragment per tensor: its partials summed as PARTIALS_SUM_SOURCE sums them (a whole sum as it is). */
const PACKED_SUMS_SOURCE = `${PACKED_HEADER}
uniform sampler2D partials;
uniform int count;
uniform int slotWidth;
out vec4 sumOut;
float partial(int k) {
  return texelFetch(partials, ivec2(k % slotWidth, k / slotWidth), 0).r;
}
void main() {
  ivec2 at = ivec2(gl_FragCoord.xy);
  int t = at.y * ${SUMS_WIDTH} + at.x;
  if (t >= count) {
    sumOut = vec4(0.0, 0.0, 0.0, 1.0);
    return;
  }
  int width = texelFetch(ints, ivec2(0, t), 0).z;
  ivec4 b = texelFetch(ints, ivec2(1, t), 0);
  if (b.y == 0) {
    sumOut = vec4(partial(b.w), 0.0, 0.0, 1.0);
    return;
  }
  float total = 0.0;
  for (int c = 0; c < width; c += ${RUN}) {
    float run = 0.0;
    for (int col = c; col < min(c + ${RUN}, width); col++) {
      for (int row = 0; row < b.z; row++) {
        run += partial(b.w + row * width + col);
      }
    }
    total += run;
  }
  sumOut = vec4(total, 0.0, 0.0, 1.0);
}`;

/** UPDATE_SOURCE per atlas texel, with its tensor's scalars and sum. */
const PACKED_UPDATE_SOURCE = `${PACKED_HEADER}
uniform sampler2D p;
uniform sampler2D m;
uniform sampler2D v;
uniform sampler2D sums;
out vec4 pOut;
void main() {
  ivec2 at = ivec2(gl_FragCoord.xy);
  int t = texelFetch(owner, at, 0).r;
  if (t < 0) {
    pOut = vec4(0.0, 0.0, 0.0, 1.0);
    return;
  }
  vec4 f1 = texelFetch(floats, ivec2(1, t), 0);
  vec4 f2 = texelFetch(floats, ivec2(2, t), 0);
  float rms = sqrt(texelFetch(sums, ivec2(t % ${SUMS_WIDTH}, t / ${SUMS_WIDTH}), 0).r / f1.w);
  float clip = 1.0;
  if (rms > 1.0) {
    clip = rms;
  }
  float eta = f1.z / clip;
  float theta = texelFetch(p, at, 0).r;
  pOut = vec4(theta * (1.0 - eta * f2.y) - (eta * texelFetch(m, at, 0).r) / (sqrt(texelFetch(v, at, 0).r) + f2.x), 0.0, 0.0, 1.0);
}`;

/** A compiled program: its samplers (bound to units 0, 1, … in this order) and uniform locations. */
export interface GlProgram {
  readonly program: WebGLProgram;
  readonly samplers: number;
  readonly floats: readonly (WebGLUniformLocation | null)[];
  readonly ints: readonly (WebGLUniformLocation | null)[];
  readonly targets: number;
}

/** The programs of one context: per tensor, and over a pack of tensors (webgl2-pack.ts). */
export interface GlPrograms {
  readonly moments: GlProgram;
  readonly ratioStrips: GlProgram;
  readonly ratioWhole: GlProgram;
  readonly partialsSum: GlProgram;
  readonly update: GlProgram;
  readonly packedMoments: GlProgram;
  readonly packedPartials: GlProgram;
  readonly packedSums: GlProgram;
  readonly packedUpdate: GlProgram;
  readonly all: readonly WebGLProgram[];
}

function compile(gl: WebGL2RenderingContext, type: number, source: string): WebGLShader {
  const shader = gl.createShader(type) as WebGLShader;
  gl.shaderSource(shader, source);
  gl.compileShader(shader);
  if (!gl.getShaderParameter(shader, gl.COMPILE_STATUS) && !gl.isContextLost()) {
    const log = gl.getShaderInfoLog(shader);
    gl.deleteShader(shader);
    throw new Error(`WebGL2 shader failed to compile: ${log}`);
  }
  return shader;
}

function link(
  gl: WebGL2RenderingContext,
  vertex: WebGLShader,
  source: string,
  samplers: readonly string[],
  floats: readonly string[],
  ints: readonly string[],
  targets = 1,
): GlProgram {
  const fragment = compile(gl, gl.FRAGMENT_SHADER, source);
  const program = gl.createProgram() as WebGLProgram;
  gl.attachShader(program, vertex);
  gl.attachShader(program, fragment);
  gl.linkProgram(program);
  gl.deleteShader(fragment);
  if (!gl.getProgramParameter(program, gl.LINK_STATUS) && !gl.isContextLost()) {
    const log = gl.getProgramInfoLog(program);
    gl.deleteProgram(program);
    throw new Error(`WebGL2 program failed to link: ${log}`);
  }
  gl.useProgram(program);
  samplers.forEach((name, unit) => {
    gl.uniform1i(gl.getUniformLocation(program, name), unit);
  });
  return {
    program,
    samplers: samplers.length,
    floats: floats.map((name) => gl.getUniformLocation(program, name)),
    ints: ints.map((name) => gl.getUniformLocation(program, name)),
    targets,
  };
}

/** Compiles the nine programs on `gl` (leaves one of them in use: callers set the program before drawing). */
export function compilePrograms(gl: WebGL2RenderingContext): GlPrograms {
  const vertex = compile(gl, gl.VERTEX_SHADER, VERTEX_SOURCE);
  try {
    const unscale = ['gradA', 'gradB'];
    const moments = link(gl, vertex, MOMENTS_SOURCE, ['g', 'm', 'v'], ['beta1c', 'beta2Hat', 'beta2c', ...unscale], [], 2);
    const ratioStrips = link(gl, vertex, RATIO_STRIPS_SOURCE, ['g', 'v'], ['epsSq', ...unscale], ['n', 'width', 'strip']);
    const ratioWhole = link(gl, vertex, RATIO_WHOLE_SOURCE, ['g', 'v'], ['epsSq', ...unscale], ['n', 'width', 'rows']);
    const partialsSum = link(gl, vertex, PARTIALS_SUM_SOURCE, ['x'], [], ['width', 'rows']);
    const update = link(gl, vertex, UPDATE_SOURCE, ['p', 'm', 'v', 's'], ['lr', 'numel', 'eps', 'decayPerLr'], []);
    const table = ['owner', 'ints', 'floats'];
    const packedMoments = link(gl, vertex, PACKED_MOMENTS_SOURCE, [...table, 'g', 'm', 'v'], [], [], 2);
    const packedPartials = link(
      gl,
      vertex,
      PACKED_PARTIALS_SOURCE,
      [...table, 'slotTable', 'g', 'v'],
      [],
      ['slots', 'slotWidth'],
    );
    const packedSums = link(gl, vertex, PACKED_SUMS_SOURCE, [...table, 'partials'], [], ['count', 'slotWidth']);
    const packedUpdate = link(gl, vertex, PACKED_UPDATE_SOURCE, [...table, 'p', 'm', 'v', 'sums'], [], []);
    const packed = { packedMoments, packedPartials, packedSums, packedUpdate };
    const all = [moments, ratioStrips, ratioWhole, partialsSum, update, ...Object.values(packed)].map((p) => p.program);
    return { moments, ratioStrips, ratioWhole, partialsSum, update, ...packed, all };
  } finally {
    gl.deleteShader(vertex);
  }
}
