import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DEBIAN_CHROMIUM } from '../../../../tooling/chromium.js';
import type { BenchRow } from '../row.js';
import { runInChromium } from './run-browser.js';

const bundle = fileURLToPath(new URL('../../dist/browser/entry.js', import.meta.url));

// Needs the built page (npm run build; CI builds before testing) and Chromium.
describe.runIf(existsSync(bundle) && existsSync(DEBIAN_CHROMIUM))('runInChromium', () => {
  it('runs threaded WASM, fused tfjs-webgl and tfjs-webgpu rows in the cross-origin isolated page, streaming rows, no leaks', async () => {
    const streamed: BenchRow[] = [];
    const run = await runInChromium(['cpu-wasm-2t', 'tfjs-webgl', 'tfjs-webgpu', 'tfjs-webgpu-adamw'], {
      chromium: DEBIAN_CHROMIUM,
      bundle,
      shapes: ['small'],
      dtypes: ['float32', 'bfloat16'],
      warmup: 1,
      steps: 2,
      quick: true,
      onRow: (row) => streamed.push(row),
    });
    expect(run.chromiumVersion).toMatch(/^Chromium \d+/);
    expect(run.rows.map((r) => `${r.subject}/${r.dtype}/${r.status}`)).toEqual([
      'cpu-wasm-2t/float32/ok',
      'cpu-wasm-2t/bfloat16/ok',
      'tfjs-webgl/float32/ok',
      'tfjs-webgl/bfloat16/skipped',
      'tfjs-webgpu/float32/ok',
      'tfjs-webgpu/bfloat16/skipped',
      'tfjs-webgpu-adamw/float32/ok',
      'tfjs-webgpu-adamw/bfloat16/skipped',
    ]);
    expect(streamed).toHaveLength(8);
    const [threaded, , webgl, , webgpu, , adamw] = run.rows;
    expect(threaded?.environment).toBe('chromium');
    expect(threaded?.detail).toBe('wasm-simd kernel, 2 threads');
    expect(threaded?.dispatchesPerStep).toBeUndefined();
    // Each row names the kernel path that ran and counts its GPU work per step.
    expect(webgl).toMatchObject({ kernelPath: 'webgl-fused', dispatchUnit: 'webgl-draw' });
    expect(webgl?.dispatchesPerStep).toBeGreaterThan(0);
    expect(webgl?.note).toMatch(/SwiftShader/);
    expect(webgl?.leakedTensors).toBe(0);
    expect(webgl?.memory?.numTensors).toBeGreaterThan(0);
    // The multi-tensor path: 3 dispatches and 1 submit for the 32 tensors of quick small.
    expect(webgpu).toMatchObject({ kernelPath: 'webgpu-multi-tensor', dispatchesPerStep: 3, submitsPerStep: 1 });
    expect(webgpu?.leakedTensors).toBe(0);
    // tf.train.adam + a decay assign per variable: at least one dispatch per tensor.
    expect(adamw?.kernelPath).toBeUndefined();
    expect(adamw?.dispatchesPerStep).toBeGreaterThanOrEqual(32);
    expect(adamw?.leakedTensors).toBe(0);
  });
});
