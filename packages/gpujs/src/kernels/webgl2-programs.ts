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

/** A compiled program: its samplers (bound to units 0, 1, … in this order) and uniform locations. */
export interface GlProgram {
  readonly program: WebGLProgram;
  readonly samplers: number;
  readonly floats: readonly (WebGLUniformLocation | null)[];
  readonly ints: readonly (WebGLUniformLocation | null)[];
  readonly targets: number;
}

/** The programs of one context. */
export interface GlPrograms {
  readonly moments: GlProgram;
  readonly ratioStrips: GlProgram;
  readonly ratioWhole: GlProgram;
  readonly partialsSum: GlProgram;
  readonly update: GlProgram;
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

/** Compiles the five programs on `gl` (leaves one of them in use: callers set the program before drawing). */
export function compilePrograms(gl: WebGL2RenderingContext): GlPrograms {
  const vertex = compile(gl, gl.VERTEX_SHADER, VERTEX_SOURCE);
  try {
    const unscale = ['gradA', 'gradB'];
    const moments = link(gl, vertex, MOMENTS_SOURCE, ['g', 'm', 'v'], ['beta1c', 'beta2Hat', 'beta2c', ...unscale], [], 2);
    const ratioStrips = link(gl, vertex, RATIO_STRIPS_SOURCE, ['g', 'v'], ['epsSq', ...unscale], ['n', 'width', 'strip']);
    const ratioWhole = link(gl, vertex, RATIO_WHOLE_SOURCE, ['g', 'v'], ['epsSq', ...unscale], ['n', 'width', 'rows']);
    const partialsSum = link(gl, vertex, PARTIALS_SUM_SOURCE, ['x'], [], ['width', 'rows']);
    const update = link(gl, vertex, UPDATE_SOURCE, ['p', 'm', 'v', 's'], ['lr', 'numel', 'eps', 'decayPerLr'], []);
    const all = [moments, ratioStrips, ratioWhole, partialsSum, update].map((p) => p.program);
    return { moments, ratioStrips, ratioWhole, partialsSum, update, all };
  } finally {
    gl.deleteShader(vertex);
  }
}
