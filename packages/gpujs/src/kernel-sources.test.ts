import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ReferenceStableAdamW, resolveOptions } from '@stable-adamw/core/adapter';
import type { GPU } from 'gpu.js';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// gpu.js compiles kernels from their JavaScript source, so a bundler's rewrite of a kernel body
// reaches its translators (kernels/source.ts). The adapter is bundled here the way an app's
// production build bundles it, with Vite's tree-shaking and minification on, and stepped on the
// cpu and webasm modes, whose translators reject such rewrites as the webgl2 one does. Every
// kernel gpu.js receives must be source text.

const SRC = fileURLToPath(new URL('.', import.meta.url));
const GPU_JS = createRequire(import.meta.url).resolve('gpu.js');

/** The bundle's entry: the optimizer, plus the kernels a Node step does not launch (non-finite counts, uploads). */
const ENTRY = `
export { StableAdamW } from ${JSON.stringify(join(SRC, 'index.ts'))};
export { KernelCache } from ${JSON.stringify(join(SRC, 'kernels/kernel-cache.ts'))};
export { nonFiniteTable } from ${JSON.stringify(join(SRC, 'kernels/non-finite.ts'))};
export { upload } from ${JSON.stringify(join(SRC, 'kernels/upload.ts'))};
export { Transaction } from ${JSON.stringify(join(SRC, 'transaction.ts'))};
export { GPU } from 'gpu.js';
`;

interface Bundle {
  StableAdamW: typeof import('./stable-adamw.js').StableAdamW;
  KernelCache: typeof import('./kernels/kernel-cache.js').KernelCache;
  nonFiniteTable: typeof import('./kernels/non-finite.js').nonFiniteTable;
  upload: typeof import('./kernels/upload.js').upload;
  Transaction: typeof import('./transaction.js').Transaction;
  GPU: typeof GPU;
}

const dir = mkdtempSync(join(tmpdir(), 'gpujs-bundle-'));
let bundle: Bundle;
/** `typeof` of every kernel source (and kernel-map output) handed to gpu.js. */
const sourceTypes: string[] = [];

beforeAll(async () => {
  writeFileSync(join(dir, 'entry.ts'), ENTRY);
  await build({
    configFile: false,
    logLevel: 'silent',
    root: dir,
    // gpu.js stays outside the bundle, imported by its resolved path from the temporary folder.
    plugins: [{ name: 'external-gpu-js', resolveId: (id) => (id === 'gpu.js' ? { id: GPU_JS, external: true } : null) }],
    build: { ssr: join(dir, 'entry.ts'), outDir: join(dir, 'out'), minify: true, target: 'es2022' },
    ssr: { noExternal: true },
  });
  bundle = (await import(pathToFileURL(join(dir, 'out', 'entry.mjs')).href)) as Bundle;
  const proto = bundle.GPU.prototype as unknown as Record<string, (...args: unknown[]) => unknown>;
  for (const name of ['createKernel', 'createKernelMap'] as const) {
    const original = proto[name] as (...args: unknown[]) => unknown;
    proto[name] = function (this: unknown, ...args: unknown[]) {
      const [first, second] = args;
      if (name === 'createKernelMap') {
        for (const sub of Object.values(first as object)) sourceTypes.push(typeof sub);
        sourceTypes.push(typeof second);
      } else sourceTypes.push(typeof first);
      return original.apply(this, args);
    };
  }
}, 60_000);

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function values(n: number, seed: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 12.9898 + i * 78.233) * (1 + (seed % 3)));
}

describe('the adapter bundled with tree-shaking and minification', () => {
  for (const mode of ['cpu', 'webasm'] as const) {
    it(`steps like the float64 reference on ${mode}`, async () => {
      const sizes = [5, 40, 300, 4100];
      const init = sizes.map((n, i) => values(n, i + 1));
      const params = init.map((data) => ({ data: Float32Array.from(data), grad: null as Float32Array | null }));
      const options = { lr: 0.01, weightDecay: 0.01 };
      const opt = new bundle.StableAdamW(params, { gpu: new bundle.GPU({ mode }), ...options });
      const reference = new ReferenceStableAdamW(
        init,
        [{ params: sizes.map((_, i) => i), hyperparameters: resolveOptions(options) }],
        'float32',
      );
      for (let t = 1; t <= 3; t++) {
        // Large gradients at step 3 make the RMS clip.
        const grads = sizes.map((n, i) => values(n, 100 * t + i).map((x) => (t === 3 ? 40 * x : x)));
        params.forEach((p, i) => {
          p.grad = grads[i] as Float32Array;
        });
        await opt.step();
        reference.step(grads);
      }
      expect(reference.lastRms.some((rms) => rms !== null && rms > 1)).toBe(true);
      const got = await opt.readParams();
      got.forEach((p, i) => {
        const want = reference.params[i] as Float64Array;
        p.forEach((x, j) => {
          expect(Math.abs(x - (want[j] as number))).toBeLessThan(2e-6);
        });
      });
      expect(opt.stats.executedModes).toEqual([mode]);
      await opt.dispose();
    });
  }

  it('counts non-finite gradients and uploads on cpu', () => {
    const gpu = new bundle.GPU({ mode: 'cpu' });
    const kernels = new bundle.KernelCache(gpu);
    const grads = [
      Float32Array.from({ length: 40 }, (_, i) => (i % 7 ? i : Number.NaN)),
      Float32Array.of(1, 2, Number.POSITIVE_INFINITY),
    ];
    expect(Array.from(bundle.nonFiniteTable(kernels, new bundle.Transaction(), grads) as Float32Array)).toEqual([6, 1]);
    expect(Array.from(bundle.upload(kernels, Float32Array.of(1, -2)) as Float32Array)).toEqual([1, -2]);
    kernels.destroy();
    gpu.destroy();
  });

  it('hands gpu.js every kernel as source text', () => {
    expect(sourceTypes.length).toBeGreaterThan(10);
    expect(new Set(sourceTypes)).toEqual(new Set(['string']));
  });
});
