import '@tensorflow/tfjs-backend-cpu';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seededValues } from '../testing/seeded-values.js';
import { hostStepModule } from './wasm-host-step.js';

const wasmDir = `${dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm'))}/`;
const f = Math.fround;

/** A float32 tensor's values on the active backend's heap, to run the module on in place. */
function heapView(tensor: tf.Tensor): Float32Array {
  return (tf.backend() as unknown as { typedArrayFromHeap(t: tf.Tensor): Float32Array }).typedArrayFromHeap(tensor);
}

describe('tfjs-wasm SIMD step loops', () => {
  // 4k + 3 elements: the vector loop and the scalar tail both run.
  const n = 4099;
  const g0 = seededValues(n, 1, 2);
  const m0 = seededValues(n, 2, 0.5);
  const v0 = seededValues(n, 3, 0.01).map((x) => x * x);
  v0[5] = Number.NaN;
  v0[n - 1] = Number.NaN;

  beforeAll(async () => {
    setWasmPaths(wasmDir);
    expect(await tf.setBackend('wasm')).toBe(true);
  });
  afterAll(async () => {
    await tf.setBackend('cpu');
  });

  it('is there on tfjs-wasm and not on tfjs-cpu', async () => {
    expect(hostStepModule(tf.backend())).not.toBeNull();
    expect(hostStepModule({})).toBeNull();
  });

  it("runs on a shared memory too (tfjs-wasm's threaded build)", () => {
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 4, shared: true });
    const simd = hostStepModule({ wasm: { asm: { memory } } });
    const heap = new Float32Array(memory.buffer, 0, 15);
    heap.set([1, 2, 3, 4, 5], 0);
    simd?.update(0, 20, 40, 40, 5, 0.5, 0, 1);
    expect([...heap.subarray(10, 15)]).toEqual([0.5, 1, 1.5, 2, 2.5]);
  });

  it('rounds every moment operation to float32 and sums g²/max(v′, ε²) in float64 (NaN v′ floors to ε²)', () => {
    const [w1, beta2, w2, scale, epsSq] = [0.1, 0.999, 0.001, 0.5, 1e-12];
    const [g, m, v] = [g0, m0, v0].map((x) => tf.tensor1d(x, 'float32'));
    const simd = hostStepModule(tf.backend());
    const [gv, mv, vv] = [g, m, v].map((t) => heapView(t as tf.Tensor)) as [Float32Array, Float32Array, Float32Array];
    const sum = simd?.moments(gv.byteOffset, mv.byteOffset, vv.byteOffset, n, w1, beta2, w2, scale, epsSq, true);
    let expectedSum = 0;
    for (let i = 0; i < n; i++) {
      const gi = f(f(g0[i] as number) * f(scale));
      const mi = f(m0[i] as number);
      const vi = f(f(f(beta2) * f(v0[i] as number)) + f(f(w2) * f(gi * gi)));
      expect(mv[i]).toBe(f(mi + f(f(w1) * f(gi - mi))));
      expect(Object.is(vv[i], vi)).toBe(true);
      // biome-ignore lint/complexity/useMathMinMax: a NaN v′ must floor to ε², as the kernel's does.
      expectedSum += (gi * gi) / (vi > epsSq ? vi : epsSq);
    }
    expect(Math.abs((sum as number) - expectedSum)).toBeLessThanOrEqual(1e-12 * Math.abs(expectedSum));
    tf.dispose([g, m, v]);
  });

  it('updates θ·decay − (η·m)/(√v + ε) with every operation rounded to float32, into its output', () => {
    const [decay, lr, eps] = [0.999, 1e-3, 1e-6];
    const v1 = v0.map((x) => (Number.isNaN(x) ? 0 : x));
    const [p, m, v, out] = [g0, m0, v1, new Float32Array(n)].map((x) => tf.tensor1d(x, 'float32'));
    const simd = hostStepModule(tf.backend());
    const [pv, mv, vv, ov] = [p, m, v, out].map((t) => heapView(t as tf.Tensor)) as [
      Float32Array,
      Float32Array,
      Float32Array,
      Float32Array,
    ];
    simd?.update(pv.byteOffset, mv.byteOffset, vv.byteOffset, ov.byteOffset, n, decay, lr, eps);
    for (let i = 0; i < n; i++) {
      const step = f(f(f(m0[i] as number) * f(lr)) / f(f(Math.sqrt(f(v1[i] as number))) + f(eps)));
      expect(ov[i]).toBe(f(f(f(g0[i] as number) * f(decay)) - step));
      expect(pv[i]).toBe(f(g0[i] as number));
    }
    tf.dispose([p, m, v, out]);
  });
});
