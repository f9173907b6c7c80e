import { KERNEL_SETTINGS } from './kernels/kernel-cache.js';
import { unscaleFactors } from './kernels/source.js';
import { upload } from './kernels/upload.js';
import { compilePrograms, type GlProgram, type GlPrograms } from './kernels/webgl2-programs.js';
import { checkBeforeLaunch, commit, deviceFailure } from './step-batch.js';
import type { BatchItem, Outcome, StepEnvironment } from './step-types.js';
import { type GpuJsTensor, isDeviceTensor, numelOf } from './tensor.js';
import { guarded, Transaction } from './transaction.js';
import { PACKED_MAX, Pack, type PackHost, planPacks, stripRows, textureSize, WHOLE_SUM_MAX } from './webgl2-pack.js';

// The `webgl2-programs` path: the optimizer's own WebGL2 programs (kernels/webgl2-programs.ts) on
// gpu.js's context instead of gpu.js kernels, whose generated shaders cost about three times as
// much per element on SwiftShader. The full steps of tensors up to PACKED_MAX elements run as
// packs (webgl2-pack.ts): four draws a pack however many tensors it holds, plus copies. Larger
// tensors, and accumulation-only steps, take three or four draws each — the moments (two render
// targets), the RMS sum (one fragment for small tensors, else column strips and their sum) and
// the update.
//
// Results are handed out as gpu.js textures: the optimizer wraps its own WebGL textures in the
// texture class gpu.js gives a pipeline kernel's [n] output (taken from one tiny gpu.js kernel of
// its own, the "anchor", which also reads them back and deletes them), in gpu.js's layout, so
// your kernels, `readParams()`, the state dict and the per-tensor path take them as they would a
// gpu.js result. Host arrays, and textures in another layout, are copied in by gpu.js's upload
// kernel first. Outputs are fresh textures swapped in once every draw has run (a failure
// part-way frees them and changes nothing); the partial sums go to scratch textures kept from
// step to step.
//
// gpu.js sets the program, its framebuffer, scissor and argument textures on every run, but sets
// the viewport only when a kernel is built (its vertex shader scales the quad to it), and vertex
// attributes on whatever vertex array is bound then: a step runs its uploads before its first
// draw, binds its own vertex array (without attributes: the vertex shader needs none) and
// framebuffer for its draws (a second one, to read from, for its copies), and restores the
// viewport it found and the default framebuffer.
//
// Every gpu.js kernel draws with the attributes the last one built left on the default vertex
// array, pointing at that kernel's quad buffer, and destroying that kernel deletes the buffer:
// WebGL then unbinds it from the attributes and every later gpu.js draw on the context, the
// caller's or an upload of the step's, silently renders nothing (the output keeps stale texels).
// So a step first points attributes left without a buffer at the anchor's quad, the same vertices.

/** gpu.js's `WebGL2Kernel`, as far as the path uses it. */
interface AnchorKernel {
  readonly context: WebGL2RenderingContext;
  /** The quad every gpu.js kernel draws: positions, then texture coordinates (see repairQuad). */
  readonly buffer: WebGLBuffer;
  readonly program: WebGLProgram;
  readonly TextureConstructor: new (settings: Record<string, unknown>) => GpuJsTensor;
  getInternalFormat(): number;
  getTextureFormat(): number;
}

/** What the path keeps per WebGL context once it has run. */
interface Context {
  readonly gl: WebGL2RenderingContext;
  readonly anchor: AnchorKernel;
  /** The `kernel` of the optimizer's textures: the anchor, but deleting a texture hands it to the pool. */
  readonly owner: AnchorKernel;
  readonly programs: GlPrograms;
  readonly framebuffer: WebGLFramebuffer;
  /** The read framebuffer of copies: their source is attached to it. */
  readonly readFramebuffer: WebGLFramebuffer;
  readonly vertexArray: WebGLVertexArrayObject;
  readonly packHost: PackHost;
}

/** One tensor's input textures and their layout (`theta` null for an accumulation-only step). */
interface Inputs {
  readonly size: [width: number, height: number];
  readonly g: WebGLTexture;
  readonly m: WebGLTexture;
  readonly v: WebGLTexture;
  readonly theta: WebGLTexture | null;
}

/** A gpu.js texture's fields the path reads. */
interface TextureFields {
  readonly texture: WebGLTexture;
  readonly size: ArrayLike<number>;
  readonly type?: string;
}

/** The `webgl2-programs` path of one optimizer (see the comment at the top). */
export class WebGL2Programs {
  /** Full steps of tensors up to this many elements are packed (tests set 0 to compare with the per-tensor programs). */
  static packedMax = PACKED_MAX;
  readonly #env: StepEnvironment;
  readonly #counts: { draws: number; copies?: number };
  /** The packs of the last step's layout (see webgl2-pack.ts), and that layout: the packed tensors' sizes. */
  #packs: Pack[] = [];
  #layout = '';
  /** The texture attached to the read framebuffer, while a step copies. */
  #readSource: WebGLTexture | null = null;
  /** Partial-sum textures by `${width}x${rows}`, kept across steps; `1x1` holds each tensor's sum in turn. */
  readonly #scratch = new Map<string, WebGLTexture>();
  /**
   * Textures of deleted outputs by `${width}x${height}`, for the next step's outputs: a fresh
   * texture costs SwiftShader about as much as a pass over it (it is cleared before first use).
   * Those not taken again by the end of the next step are deleted.
   */
  readonly #pool = new Map<string, WebGLTexture[]>();
  /** Pooled textures at the start of the step, deleted at its end unless taken. */
  #stale = new Set<WebGLTexture>();
  #context: Context | undefined;

  constructor(env: StepEnvironment, counts: { draws: number; copies?: number }) {
    this.#env = env;
    this.#counts = counts;
  }

  /** One step of `items`: checks, every draw, then the swap. A throw changes no param or state. */
  step(items: readonly BatchItem[]): void {
    const env = this.#env;
    const tx = new Transaction();
    guarded(
      () => {
        checkBeforeLaunch(env, items);
        const context = this.#ready();
        const { gl } = context;
        repairQuad(gl, context.anchor);
        // Every upload (a gpu.js kernel, built on first use) before the first draw: they need
        // gpu.js's viewport and vertex array, and building one sets the viewport the draws restore.
        const inputs = items.map((item) => this.#inputs(tx, item));
        const viewport = gl.getParameter(gl.VIEWPORT) as Int32Array;
        try {
          const outcomes: Outcome[] = [];
          const packs = this.#packsFor(context, items);
          for (const pack of packs) this.#runPack(context, tx, pack, items, inputs, outcomes);
          items.forEach((item, i) => {
            outcomes[i] ??= this.#run(context, tx, item, inputs[i] as Inputs);
          });
          commit(env, outcomes);
          tx.finish(outcomes.flatMap(({ expAvg, expAvgSq, data }) => [expAvg, expAvgSq, data]));
          for (const pack of packs)
            pack.swap((i) => [outcomes[i]?.expAvg, outcomes[i]?.expAvgSq, outcomes[i]?.data] as GpuJsTensor[]);
        } finally {
          this.#trimPool(gl);
          gl.bindVertexArray(null);
          if (this.#readSource) {
            gl.bindFramebuffer(gl.READ_FRAMEBUFFER, context.readFramebuffer);
            gl.framebufferTexture2D(gl.READ_FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, null, 0);
            this.#readSource = null;
          }
          gl.bindFramebuffer(gl.FRAMEBUFFER, null);
          gl.viewport(viewport[0] as number, viewport[1] as number, viewport[2] as number, viewport[3] as number);
        }
      },
      (error) => {
        tx.rollback();
        return deviceFailure(env, error);
      },
    );
  }

  /** Frees the programs, packs, framebuffers, vertex array and scratch textures (the anchor goes with the kernel cache). */
  destroy(): void {
    const context = this.#context;
    if (!context) return;
    const { gl } = context;
    for (const pack of this.#packs) pack.destroy();
    this.#packs = [];
    this.#layout = '';
    gl.deleteFramebuffer(context.readFramebuffer);
    for (const program of context.programs.all) gl.deleteProgram(program);
    for (const texture of [...this.#scratch.values(), ...[...this.#pool.values()].flat()]) gl.deleteTexture(texture);
    this.#scratch.clear();
    this.#pool.clear();
    this.#stale.clear();
    gl.deleteFramebuffer(context.framebuffer);
    gl.deleteVertexArray(context.vertexArray);
    this.#context = undefined;
  }

  /** The context, set up on the first step: the anchor kernel (one launch), the programs, a framebuffer and a vertex array. */
  #ready(): Context {
    if (this.#context) return this.#context;
    const probe = this.#env.kernels.launch(
      'webgl2Anchor',
      (gpu) => gpu.createKernel('function anchorKernel(a) { return a[this.thread.x]; }', { ...KERNEL_SETTINGS, output: [1] }),
      Float32Array.of(0),
    ) as GpuJsTensor;
    const anchor = (probe as unknown as { kernel: AnchorKernel }).kernel;
    (probe as unknown as { delete(): void }).delete();
    const gl = anchor.context;
    const programs = compilePrograms(gl);
    const owner = Object.create(anchor) as AnchorKernel & { deleteTexture(texture: WebGLTexture): void };
    owner.deleteTexture = (texture) => this.#recycle(gl, texture);
    const packHost: PackHost = {
      gl,
      programs,
      texture: (width, height, format) => newTexture(gl, format ?? anchor.getInternalFormat(), width, height),
      draw: (program, targets, size, samplers, ints) => this.#draw(context, program, targets, size, samplers, [], ints),
      copy: (source, from, target, to, size) => this.#copy(context, source, from, target, to, size),
    };
    const context: Context = {
      gl,
      anchor,
      owner,
      programs,
      framebuffer: gl.createFramebuffer() as WebGLFramebuffer,
      readFramebuffer: gl.createFramebuffer() as WebGLFramebuffer,
      vertexArray: gl.createVertexArray() as WebGLVertexArrayObject,
      packHost,
    };
    this.#context = context;
    return context;
  }

  /**
   * The packs of this step's full steps of up to PACKED_MAX elements: the last step's while the
   * sizes stay, else new ones (the old ones freed).
   */
  #packsFor(context: Context, items: readonly BatchItem[]): Pack[] {
    const packable = items.flatMap((item, index) => {
      const n = numelOf(item.state.expAvg);
      return item.update && n <= WebGL2Programs.packedMax ? [{ index, n }] : [];
    });
    const layout = packable.map(({ n }) => n).join(',');
    if (layout === this.#layout) return this.#packs;
    for (const pack of this.#packs) pack.destroy();
    this.#packs = [];
    this.#layout = '';
    const { gl, packHost } = context;
    const maxSize = gl.getParameter(gl.MAX_TEXTURE_SIZE) as number;
    for (const plan of planPacks(packable, maxSize)) this.#packs.push(new Pack(packHost, plan));
    this.#layout = layout;
    return this.#packs;
  }

  /** One pack's tensors into fresh textures recorded in `tx`, their outcomes at their items' indices. */
  #runPack(
    context: Context,
    tx: Transaction,
    pack: Pack,
    items: readonly BatchItem[],
    inputs: readonly Inputs[],
    outcomes: Outcome[],
  ): void {
    const packInputs = items.map((item, i) => {
      const { g, m, v, theta } = inputs[i] as Inputs;
      return {
        g,
        m,
        v,
        theta: theta as WebGLTexture,
        tensors: [item.state.expAvg, item.state.expAvgSq, item.param.data] as const,
      };
    });
    for (const { item: i } of pack.plan.entries) {
      const { size } = inputs[i] as Inputs;
      const n = numelOf((items[i] as BatchItem).state.expAvg);
      const [expAvg, expAvgSq, data] = [0, 1, 2].map(() => this.#output(context, tx, n, size)) as [
        GpuJsTensor,
        GpuJsTensor,
        GpuJsTensor,
      ];
      outcomes[i] = { item: items[i] as BatchItem, expAvg, expAvgSq, data };
    }
    pack.run(items, packInputs, (i) => {
      const { expAvg, expAvgSq, data } = outcomes[i] as Outcome;
      return [textureOf(expAvg), textureOf(expAvgSq), textureOf(data as GpuJsTensor)];
    });
  }

  /** The WebGL textures of one tensor's g, m, v and θ (θ only for a full step), in the layout of its size. */
  #inputs(tx: Transaction, item: BatchItem): Inputs {
    const { param, state, update } = item;
    const size = textureSize(numelOf(state.expAvg));
    const read = (tensor: GpuJsTensor) => this.#input(tx, tensor, size);
    return {
      size,
      g: read(item.grad),
      m: read(state.expAvg),
      v: read(state.expAvgSq),
      theta: update ? read(param.data) : null,
    };
  }

  /** Both phases of one tensor into fresh textures recorded in `tx`. */
  #run(context: Context, tx: Transaction, item: BatchItem, { size, g, m, v, theta }: Inputs): Outcome {
    const { state, moments, update } = item;
    const n = numelOf(state.expAvg);
    const [gradA, gradB] = unscaleFactors(moments.gradScale);
    const expAvg = this.#output(context, tx, n, size);
    const expAvgSq = this.#output(context, tx, n, size);
    this.#draw(
      context,
      context.programs.moments,
      [textureOf(expAvg), textureOf(expAvgSq)],
      size,
      [g, m, v],
      [1 - moments.beta1Hat, moments.beta2Hat, 1 - moments.beta2Hat, gradA, gradB],
      [],
    );
    if (!update || !theta) return { item, expAvg, expAvgSq, data: null };
    const sum = this.#sum(context, n, size, g, textureOf(expAvgSq), [moments.epsSq, gradA, gradB]);
    const data = this.#output(context, tx, n, size);
    this.#draw(
      context,
      context.programs.update,
      [textureOf(data)],
      size,
      [theta, textureOf(expAvg), textureOf(expAvgSq), sum],
      [update.lr, update.numel, update.eps, update.weightDecayPerLr],
      [],
    );
    return { item, expAvg, expAvgSq, data };
  }

  /** Σ (s·g)²/max(v′, ε²) into the 1 × 1 scratch texture: one draw up to WHOLE_SUM_MAX elements, else two. */
  #sum(
    context: Context,
    n: number,
    [width, rows]: [number, number],
    g: WebGLTexture,
    v: WebGLTexture,
    floats: number[],
  ): WebGLTexture {
    const { programs } = context;
    const total = this.#scratchTexture(context, 1, 1);
    if (n <= WHOLE_SUM_MAX) {
      this.#draw(context, programs.ratioWhole, [total], [1, 1], [g, v], floats, [n, width, rows]);
      return total;
    }
    const strip = stripRows(rows);
    const strips = Math.ceil(rows / strip);
    const partials = this.#scratchTexture(context, width, strips);
    this.#draw(context, programs.ratioStrips, [partials], [width, strips], [g, v], floats, [n, width, strip]);
    this.#draw(context, programs.partialsSum, [total], [1, 1], [partials], [], [width, strips]);
    return total;
  }

  /**
   * The WebGL texture of an input in the layout of `size`: a gpu.js float texture of that size as
   * it is, anything else (host values, another layout) through gpu.js's upload kernel first.
   */
  #input(tx: Transaction, tensor: GpuJsTensor, [width, height]: [number, number]): WebGLTexture {
    const fits = (t: GpuJsTensor) => {
      if (!isDeviceTensor(t)) return false;
      const { size, type } = t as unknown as TextureFields;
      return type === 'ArrayTexture(1)' && size[0] === width && size[1] === height;
    };
    if (fits(tensor)) return textureOf(tensor);
    const copy = tx.made(upload(this.#env.kernels, tensor) as GpuJsTensor);
    if (!fits(copy)) throw new Error(`gpu.js laid out ${numelOf(copy)} elements in an unexpected texture size`);
    return textureOf(copy);
  }

  /** A fresh texture of `n` elements, as the gpu.js texture a pipeline kernel with output [n] returns, recorded in `tx`. */
  #output(context: Context, tx: Transaction, n: number, [width, height]: [number, number]): GpuJsTensor {
    const { gl, anchor, owner } = context;
    const texture = this.#pool.get(`${width}x${height}`)?.pop() ?? newTexture(gl, anchor.getInternalFormat(), width, height);
    this.#stale.delete(texture);
    return tx.made(
      new anchor.TextureConstructor({
        texture,
        size: Int32Array.of(width, height),
        dimensions: [n, 1, 1],
        output: [n],
        context: gl,
        internalFormat: anchor.getInternalFormat(),
        textureFormat: anchor.getTextureFormat(),
        kernel: owner,
      }),
    );
  }

  /** A deleted output's texture: into the pool while the path is live, else freed. */
  #recycle(gl: WebGL2RenderingContext, texture: WebGLTexture): void {
    if (!this.#context) {
      gl.deleteTexture(texture);
      return;
    }
    const { width, height } = texture as WebGLTexture & { width: number; height: number };
    const key = `${width}x${height}`;
    const free = this.#pool.get(key) ?? [];
    free.push(texture);
    this.#pool.set(key, free);
  }

  /** Deletes the pooled textures no output of this step took; the rest wait for the next step. */
  #trimPool(gl: WebGL2RenderingContext): void {
    for (const [key, free] of this.#pool) {
      const kept = free.filter((texture) => !this.#stale.has(texture));
      for (const texture of free) if (this.#stale.has(texture)) gl.deleteTexture(texture);
      if (kept.length > 0) this.#pool.set(key, kept);
      else this.#pool.delete(key);
    }
    this.#stale = new Set([...this.#pool.values()].flat());
  }

  #scratchTexture(context: Context, width: number, height: number): WebGLTexture {
    const key = `${width}x${height}`;
    let texture = this.#scratch.get(key);
    if (!texture) {
      texture = newTexture(context.gl, context.anchor.getInternalFormat(), width, height);
      this.#scratch.set(key, texture);
    }
    return texture;
  }

  /** Copies a rectangle of `source` (attached to the read framebuffer) into `target`: a command, not a draw. */
  #copy(
    { gl, readFramebuffer }: Context,
    source: WebGLTexture,
    [fromX, fromY]: [number, number],
    target: WebGLTexture,
    [toX, toY]: [number, number],
    [width, height]: [number, number],
  ): void {
    // A draw binds its framebuffer for reading too.
    gl.bindFramebuffer(gl.READ_FRAMEBUFFER, readFramebuffer);
    if (this.#readSource !== source) {
      gl.framebufferTexture2D(gl.READ_FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, source, 0);
      this.#readSource = source;
    }
    gl.activeTexture(gl.TEXTURE0);
    gl.bindTexture(gl.TEXTURE_2D, target);
    this.#counts.copies = (this.#counts.copies ?? 0) + 1;
    gl.copyTexSubImage2D(gl.TEXTURE_2D, 0, toX, toY, fromX, fromY, width, height);
  }

  /** One draw of `program` over a `width` × `height` target (or two same-sized targets). */
  #draw(
    { gl, vertexArray, framebuffer }: Context,
    program: GlProgram,
    targets: readonly WebGLTexture[],
    [width, height]: [number, number],
    samplers: readonly WebGLTexture[],
    floats: readonly number[],
    ints: readonly number[],
  ): void {
    gl.bindVertexArray(vertexArray);
    // gpu.js kernels bind framebuffers of their own (an upload may have run since the last draw).
    gl.bindFramebuffer(gl.FRAMEBUFFER, framebuffer);
    gl.useProgram(program.program);
    samplers.forEach((texture, unit) => {
      gl.activeTexture(gl.TEXTURE0 + unit);
      gl.bindTexture(gl.TEXTURE_2D, texture);
    });
    floats.forEach((value, i) => {
      gl.uniform1f(program.floats[i] as WebGLUniformLocation | null, value);
    });
    ints.forEach((value, i) => {
      gl.uniform1i(program.ints[i] as WebGLUniformLocation | null, value);
    });
    gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, targets[0] as WebGLTexture, 0);
    // The second target only while the moments draw: no sampled texture may stay attached.
    gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT1, gl.TEXTURE_2D, targets[1] ?? null, 0);
    gl.drawBuffers(targets.length === 2 ? [gl.COLOR_ATTACHMENT0, gl.COLOR_ATTACHMENT1] : [gl.COLOR_ATTACHMENT0]);
    gl.viewport(0, 0, width, height);
    gl.scissor(0, 0, width, height);
    this.#counts.draws += 1;
    gl.drawArrays(gl.TRIANGLES, 0, 3);
  }
}

/**
 * Points gpu.js's vertex attributes (on the default vertex array) that were left without a
 * buffer — a destroyed kernel's deleted quad — at the anchor's quad, as gpu.js lays it out: four
 * vertices' positions, then their texture coordinates. Attributes with a live buffer stay as they are.
 */
function repairQuad(gl: WebGL2RenderingContext, anchor: AnchorKernel): void {
  gl.bindVertexArray(null);
  const attributes: [name: string, offset: number][] = [
    ['aPos', 0],
    ['aTexCoord', 8 * Float32Array.BYTES_PER_ELEMENT],
  ];
  for (const [name, offset] of attributes) {
    const location = gl.getAttribLocation(anchor.program, name);
    if (location === -1 || gl.getVertexAttrib(location, gl.VERTEX_ATTRIB_ARRAY_BUFFER_BINDING)) continue;
    gl.bindBuffer(gl.ARRAY_BUFFER, anchor.buffer);
    gl.enableVertexAttribArray(location);
    gl.vertexAttribPointer(location, 2, gl.FLOAT, false, 0, offset);
  }
}

/** The WebGL texture behind a gpu.js texture. */
function textureOf(tensor: GpuJsTensor): WebGLTexture {
  return (tensor as unknown as TextureFields).texture;
}

/** An immutable-format float texture of `width` × `height` texels, sampled texel by texel. */
function newTexture(gl: WebGL2RenderingContext, format: number, width: number, height: number): WebGLTexture {
  const texture = gl.createTexture() as WebGLTexture;
  gl.activeTexture(gl.TEXTURE0);
  gl.bindTexture(gl.TEXTURE_2D, texture);
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.NEAREST);
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.NEAREST);
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE);
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE);
  gl.texStorage2D(gl.TEXTURE_2D, 1, format, width, height);
  // Its size, for the pool (WebGL cannot be asked without binding it).
  return Object.assign(texture, { width, height });
}
