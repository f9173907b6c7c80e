import type { GpuJsTensor } from '../tensor.js';

// Every kernel reaches gpu.js as JavaScript source text, never as a function. gpu.js compiles a
// kernel from its source (`fn.toString()` for a function) into GLSL, WGSL or wasm, and its
// translators take a narrow subset of JavaScript. A bundler rewrites function bodies as it likes:
// Vite 8's tree-shaking turned `for (…) { if (…) { const gj = …; … } }` into `for (…) if (…) { … }`
// and gpu.js's webgl2 shader failed ("'user_gj' : undeclared identifier"); it also drops calls it
// deems pure (a kernel map's outputs), and a minifier renames and folds. String contents are the
// one thing no bundler touches. `kernel-sources.test.ts` bundles the adapter with tree-shaking and
// minification on and checks that every kernel handed to gpu.js is a string.

/**
 * The JavaScript source of one gpu.js kernel, `function name(args) { … }`: only `this.thread`,
 * `this.constants`, the arguments and `Math`; no closures over module values, no TypeScript.
 */
export type KernelSource = string;

/**
 * A loss scaler's gradient scale s = 1/scale as two factors, `g·a·b`, each a normal float32: s
 * itself is subnormal for a scale ≥ 2^127, and GPUs (SwiftShader included) flush it to zero. `b`
 * is a power of two, so `(g·a)·b` rounds as `g·fround(s)` would without the flush.
 */
export function unscaleFactors(gradScale: number): [a: number, b: number] {
  const half = Math.round(Math.log2(gradScale) / 2);
  return [gradScale / 2 ** half, 2 ** half];
}

/** Where a step's control tensor (see device-skip.ts) keeps what the kernels read. */
export const CONTROL = { scale: 0, skip: 1, gradA: 2, gradB: 3, rows: 10 } as const;

/** A step whose device decides `nonFinite: 'skip'`: its control tensor, and the row of the tensor's group in it. */
export interface DeviceControl {
  readonly ctl: GpuJsTensor;
  readonly row: number;
}

const variants = new Map<KernelSource, KernelSource>();

/**
 * The variant of `source` for a step whose device decides `nonFinite: 'skip'`: the scalar
 * arguments `reads` (name → index into the control tensor `ctl`, `row` being the tensor's group
 * row) are read from `ctl` instead, and a skipped step runs `skipped` (returning the old values)
 * before anything reads the gradient. Kernel maps call their outputs in `skipped` too.
 */
function deviceVariant(source: KernelSource, reads: Readonly<Record<string, string>>, skipped: string): KernelSource {
  return source.replace(/^function (\w+)\(([^)]*)\) \{/, (_, name: string, args: string) => {
    const kept = args.split(', ').filter((arg) => !(arg in reads));
    const locals = Object.entries(reads).map(([arg, at]) => `\n  const ${arg} = ctl[${at}];`);
    return `function ${name}(${[...kept, 'ctl', 'row'].join(', ')}) {\n  if (ctl[${CONTROL.skip}] > 0) {\n    ${skipped}\n  }${locals.join('')}`;
  });
}

/** The device variant's reads: the unscale factors, and the group's (1 − β̂1, β̂2, 1 − β̂2). */
const READS: Readonly<Record<string, string>> = {
  gradA: `${CONTROL.gradA}`,
  gradB: `${CONTROL.gradB}`,
  beta1c: 'row',
  beta2Hat: 'row + 1',
  beta2c: 'row + 2',
};

/**
 * What a launch compiles and passes after its tensors: `source` with the host's `scalars`
 * (named as in its argument list), or its device variant with `ctl, row` (see `deviceVariant`).
 */
export function kernelFor(
  key: string,
  source: KernelSource,
  skipped: string,
  scalars: Readonly<Record<string, number>>,
  control: DeviceControl | undefined,
): { key: string; source: KernelSource; args: unknown[] } {
  if (!control) return { key, source, args: Object.values(scalars) };
  let variant = variants.get(source);
  if (!variant) {
    const names = Object.keys(scalars);
    const reads = Object.fromEntries(Object.entries(READS).filter(([name]) => names.includes(name)));
    variant = deviceVariant(source, reads, skipped);
    variants.set(source, variant);
  }
  const kept = Object.entries(scalars).filter(([name]) => !(name in READS));
  return { key: `skip:${key}`, source: variant, args: [...kept.map(([, value]) => value), control.ctl, control.row] };
}
