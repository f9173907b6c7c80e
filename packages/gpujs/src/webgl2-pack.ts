import { unscaleFactors } from './kernels/source.js';
import { type GlProgram, type GlPrograms, RUN, SUMS_WIDTH } from './kernels/webgl2-programs.js';
import type { BatchItem } from './step-types.js';
import type { GpuJsTensor } from './tensor.js';

// A pack of the `webgl2-programs` path: small tensors of a step side by side in shared "atlas"
// textures, so that the whole pack takes four draws however many tensors it holds — moments (two
// render targets), partial sums (one fragment per column strip, or per tensor up to
// WHOLE_SUM_MAX elements), one sum per tensor, and the update — plus copies, which are commands,
// not draws: each gradient in (`copyTexSubImage2D` from a framebuffer it is attached to), each
// new m, v and θ out to the tensor's own texture in gpu.js's layout. Each tensor keeps that
// layout as a rectangle of the atlas, and each program (kernels/webgl2-programs.ts) sums and
// updates in the order of the per-tensor programs: results are bit-equal to them.
//
// The atlas textures of m, v and θ come in two sets that swap each step: the new values are drawn
// into one set and then copied out, so in the next step that set already holds its inputs; a
// tensor is copied in only when it is not the one copied out of the set (a new param, a loaded
// state). The layout textures (owner map, integer table, partial slots) are uploaded once per
// layout, the scalars (which change with step, lr and group) once per step.

/** Tensors up to this many elements sum their ratios in one fragment; larger ones in column strips, then their sum. */
export const WHOLE_SUM_MAX = 2 ** 14;

/**
 * Tensors up to this many elements are packed; larger ones keep the per-tensor programs: a pass
 * of copies over a large tensor costs more than the three or four draws it would save.
 */
export const PACKED_MAX = 2 ** 16;

/** Draws of one pack's step, however many tensors it holds: moments, partial sums, sums, update. */
export const PACK_DRAWS = 4;

/** Partial-sum slots in a row of a pack's partials texture, at most. */
const SLOT_ROW = 1024;

/** The partials texture of `slots` slots: near square, as SwiftShader splits a draw among its threads by rows. */
function slotsSize(slots: number): [width: number, height: number] {
  const width = Math.min(SLOT_ROW, Math.ceil(Math.sqrt(slots)));
  return [width, Math.ceil(slots / width)];
}

/** gpu.js's texture size for an output of `n` elements: the closest to square w × h with w·h ≥ n. */
export function textureSize(n: number): [width: number, height: number] {
  let high = Math.ceil(Math.sqrt(n));
  let low = Math.floor(Math.sqrt(n));
  while (high * low < n) {
    high -= 1;
    low = Math.ceil(n / high);
  }
  return [low, Math.ceil(n / low)];
}

/** Rows per strip of the ratio sum: at least ~16 strips (SwiftShader splits a draw by rows), RUN to 8·RUN rows each. */
export function stripRows(rows: number): number {
  return Math.min(8 * RUN, Math.max(RUN, RUN * Math.floor(rows / (16 * RUN))));
}

/** One tensor of a pack: its item, its rectangle in the atlas, and its partial-sum slots. */
interface Entry {
  readonly item: number;
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly rows: number;
  readonly n: number;
  /** Rows per strip, or 0: the whole sum in one slot. */
  readonly strip: number;
  readonly strips: number;
  readonly slot: number;
}

/** Where the tensors of one pack go. */
export interface PackPlan {
  readonly width: number;
  readonly height: number;
  readonly entries: readonly Entry[];
  readonly slots: number;
}

/**
 * Shelves the tensors (by `sizes`, the numel of each packable item) into packs of at most
 * `maxSize` × `maxSize` texels and `maxSize` tensors, tallest first.
 */
export function planPacks(items: readonly { index: number; n: number }[], maxSize: number): PackPlan[] {
  const rects = items
    .map(({ index, n }) => ({ index, n, size: textureSize(n) }))
    .sort((a, b) => b.size[1] - a.size[1] || b.size[0] - a.size[0] || a.index - b.index);
  const area = rects.reduce((sum, r) => sum + r.size[0] * r.size[1], 0);
  const widest = rects.reduce((w, r) => Math.max(w, r.size[0]), 0);
  const width = Math.min(maxSize, Math.max(widest, Math.ceil(Math.sqrt(area))));
  const plans: PackPlan[] = [];
  let entries: Entry[] = [];
  let [x, y, shelf, slots] = [0, 0, 0, 0];
  const close = () => {
    if (entries.length > 0) plans.push({ width, height: y + shelf, entries, slots });
    entries = [];
    [x, y, shelf, slots] = [0, 0, 0, 0];
  };
  for (const { index, n, size } of rects) {
    const [w, rows] = size;
    if (x + w > width) [x, y, shelf] = [0, y + shelf, 0];
    if (y + rows > maxSize || entries.length === maxSize) close();
    const strip = n <= WHOLE_SUM_MAX ? 0 : stripRows(rows);
    const strips = strip === 0 ? 1 : Math.ceil(rows / strip);
    entries.push({ item: index, x, y, width: w, rows, n, strip, strips, slot: slots });
    slots += strip === 0 ? 1 : w * strips;
    x += w;
    shelf = Math.max(shelf, rows);
  }
  close();
  return plans;
}

/** One tensor's input textures and the gpu.js textures they came from. */
export interface PackInput {
  readonly g: WebGLTexture;
  readonly m: WebGLTexture;
  readonly v: WebGLTexture;
  readonly theta: WebGLTexture;
  /** The tensors behind m, v and θ: a tensor the pack copied out last is not copied in again. */
  readonly tensors: readonly [m: GpuJsTensor, v: GpuJsTensor, theta: GpuJsTensor];
}

/** What a pack needs from its path: textures, draws and copies on gpu.js's context. */
export interface PackHost {
  readonly gl: WebGL2RenderingContext;
  readonly programs: GlPrograms;
  /** A new texture (of `format`, the float format of gpu.js's textures unless given). */
  texture(width: number, height: number, format?: number): WebGLTexture;
  draw(
    program: GlProgram,
    targets: readonly WebGLTexture[],
    size: [number, number],
    samplers: readonly WebGLTexture[],
    ints: readonly number[],
  ): void;
  /** Copies a `width` × `height` rectangle at `from` of `source` to `to` of `target`. */
  copy(source: WebGLTexture, from: [number, number], target: WebGLTexture, to: [number, number], size: [number, number]): void;
}

/** The atlas textures of m, v and θ, and the tensors whose values each rectangle holds. */
interface AtlasSet {
  readonly m: WebGLTexture;
  readonly v: WebGLTexture;
  readonly theta: WebGLTexture;
  /** By entry: the tensors (m, v, θ) whose values the rectangle holds, null where none is known. */
  holds: (GpuJsTensor | null)[][];
}

/** The textures of one pack (see the comment at the top), kept while its layout stays. */
export class Pack {
  readonly plan: PackPlan;
  readonly #host: PackHost;
  readonly #owner: WebGLTexture;
  readonly #ints: WebGLTexture;
  readonly #slotTable: WebGLTexture;
  readonly #floats: WebGLTexture;
  readonly #scalars: Float32Array;
  readonly #g: WebGLTexture;
  readonly #partials: WebGLTexture;
  readonly #partialsSize: [number, number];
  readonly #sums: WebGLTexture;
  readonly #sumsSize: [number, number];
  readonly #sets: [AtlasSet, AtlasSet];
  readonly #textures: WebGLTexture[];
  /** The set holding this step's inputs; the other takes its outputs. */
  #current = 0;

  constructor(host: PackHost, plan: PackPlan) {
    this.plan = plan;
    this.#host = host;
    const { gl } = host;
    const { width, height, entries, slots } = plan;
    const count = entries.length;
    const textures: WebGLTexture[] = [];
    const make = (w: number, h: number, format?: number) => {
      const texture = host.texture(w, h, format);
      textures.push(texture);
      return texture;
    };
    try {
      const owner = new Int32Array(width * height).fill(-1);
      const ints = new Int32Array(count * 8);
      this.#partialsSize = slotsSize(slots);
      const slotTable = new Int32Array(this.#partialsSize[0] * this.#partialsSize[1] * 4);
      entries.forEach((e, t) => {
        for (let row = 0; row < e.rows; row++) owner.fill(t, (e.y + row) * width + e.x, (e.y + row) * width + e.x + e.width);
        ints.set([e.x, e.y, e.width, e.n, e.rows, e.strip, e.strips, e.slot], t * 8);
        if (e.strip === 0) slotTable.set([t, 0, 0, 0], e.slot * 4);
        else
          for (let s = 0; s < e.strips; s++)
            for (let col = 0; col < e.width; col++) slotTable.set([t, col, s, 0], (e.slot + s * e.width + col) * 4);
      });
      this.#sumsSize = [Math.min(count, SUMS_WIDTH), Math.ceil(count / SUMS_WIDTH)];
      this.#owner = make(width, height, gl.R32I);
      upload(gl, this.#owner, [width, height], gl.RED_INTEGER, gl.INT, owner);
      this.#ints = make(2, count, gl.RGBA32I);
      upload(gl, this.#ints, [2, count], gl.RGBA_INTEGER, gl.INT, ints);
      this.#slotTable = make(...this.#partialsSize, gl.RGBA32I);
      upload(gl, this.#slotTable, this.#partialsSize, gl.RGBA_INTEGER, gl.INT, slotTable);
      this.#floats = make(3, count, gl.RGBA32F);
      this.#scalars = new Float32Array(count * 12);
      this.#g = make(width, height);
      this.#partials = make(...this.#partialsSize);
      this.#sums = make(...this.#sumsSize);
      const set = (): AtlasSet => ({
        m: make(width, height),
        v: make(width, height),
        theta: make(width, height),
        holds: entries.map(() => [null, null, null]),
      });
      this.#sets = [set(), set()];
    } catch (error) {
      for (const texture of textures) gl.deleteTexture(texture);
      throw error;
    }
    this.#textures = textures;
  }

  /**
   * Draws the pack's step from `inputs` (by item index) and copies m′, v′ and θ′ of each tensor to
   * `outputs(entry)`'s textures. Changes no param or state; `swap` once the step commits.
   */
  run(items: readonly BatchItem[], inputs: readonly PackInput[], outputs: (item: number) => readonly WebGLTexture[]): void {
    const host = this.#host;
    const { gl, programs } = host;
    const { entries, width, height, slots } = this.plan;
    const current = this.#sets[this.#current] as AtlasSet;
    const next = this.#sets[1 - this.#current] as AtlasSet;
    const scalars = this.#scalars;
    entries.forEach((e, t) => {
      const { moments, update } = items[e.item] as BatchItem & { update: NonNullable<BatchItem['update']> };
      const [gradA, gradB] = unscaleFactors(moments.gradScale);
      scalars.set(
        [1 - moments.beta1Hat, moments.beta2Hat, 1 - moments.beta2Hat, gradA, gradB, moments.epsSq, update.lr, update.numel],
        t * 12,
      );
      scalars.set([update.eps, update.weightDecayPerLr, 0, 0], t * 12 + 8);
    });
    upload(gl, this.#floats, [3, entries.length], gl.RGBA, gl.FLOAT, scalars);
    // Until this step commits the output set holds nothing known (a failure part-way leaves it so).
    next.holds = entries.map(() => [null, null, null]);
    entries.forEach((e, t) => {
      const input = inputs[e.item] as PackInput;
      const at: [number, number] = [e.x, e.y];
      const size: [number, number] = [e.width, e.rows];
      host.copy(input.g, [0, 0], this.#g, at, size);
      const held = current.holds[t] as (GpuJsTensor | null)[];
      [input.m, input.v, input.theta].forEach((texture, k) => {
        const tensor = input.tensors[k] as GpuJsTensor;
        if (held[k] === tensor) return;
        host.copy(texture, [0, 0], [current.m, current.v, current.theta][k] as WebGLTexture, at, size);
        // Only the pack's own outputs, which nothing writes again, are known by identity.
        held[k] = null;
      });
    });
    const table = [this.#owner, this.#ints, this.#floats];
    const atlas: [number, number] = [width, height];
    host.draw(programs.packedMoments, [next.m, next.v], atlas, [...table, this.#g, current.m, current.v], []);
    host.draw(
      programs.packedPartials,
      [this.#partials],
      this.#partialsSize,
      [...table, this.#slotTable, this.#g, next.v],
      [slots, this.#partialsSize[0]],
    );
    host.draw(
      programs.packedSums,
      [this.#sums],
      this.#sumsSize,
      [...table, this.#partials],
      [entries.length, this.#partialsSize[0]],
    );
    host.draw(programs.packedUpdate, [next.theta], atlas, [...table, current.theta, next.m, next.v, this.#sums], []);
    [next.m, next.v, next.theta].forEach((source, k) => {
      for (const e of entries) host.copy(source, [e.x, e.y], outputs(e.item)[k] as WebGLTexture, [0, 0], [e.width, e.rows]);
    });
  }

  /** The step committed: the output set holds `tensors` (m, v, θ by item index) and is the next step's input set. */
  swap(tensors: (item: number) => readonly GpuJsTensor[]): void {
    this.#current = 1 - this.#current;
    const set = this.#sets[this.#current] as AtlasSet;
    set.holds = this.plan.entries.map((e) => [...tensors(e.item)]);
  }

  /** Frees every texture of the pack. */
  destroy(): void {
    for (const texture of this.#textures) this.#host.gl.deleteTexture(texture);
  }
}

/** Uploads `data` into the whole of `texture` (`width` × `height` texels of `format`/`type`). */
function upload(
  gl: WebGL2RenderingContext,
  texture: WebGLTexture,
  [width, height]: [number, number],
  format: number,
  type: number,
  data: ArrayBufferView,
): void {
  gl.activeTexture(gl.TEXTURE0);
  gl.bindTexture(gl.TEXTURE_2D, texture);
  // gpu.js sets these before its own uploads; ours need rows as they are.
  gl.pixelStorei(gl.UNPACK_FLIP_Y_WEBGL, false);
  gl.pixelStorei(gl.UNPACK_ALIGNMENT, 4);
  gl.texSubImage2D(gl.TEXTURE_2D, 0, 0, 0, width, height, format, type, data);
}
