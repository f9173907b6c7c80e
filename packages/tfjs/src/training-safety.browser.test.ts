import '@tensorflow/tfjs-backend-webgl';
import '@tensorflow/tfjs-backend-webgpu';
import {
  momentScalars,
  ReferenceStableAdamW,
  type ReferenceTensorState,
  resolveOptions,
  type TensorStep,
} from '@stable-adamw/core/adapter';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it, vi } from 'vitest';
import { createTfjsBackend, StableAdamW, type TfjsState } from './index.js';
import { excess } from './kernels/device-skip-cases.js';
import { seededValues as values } from './testing/seeded-values.js';

// The fused kernels' share of training safety. On webgl, step() with NaN/±Inf gradients and with
// a loss scaler runs against the float64 reference in conformance.browser.test.ts (safety cases).
// Here: the readback cost of 'skip' (none synchronous: the device decides on both, see
// kernels/webgpu-device-skip.browser.test.ts and kernels/webgl-device-skip.browser.test.ts), and
// every fused kernel's gradScale.

const SHAPES = [[300, 7], [1], [2100]];
const SCALE = 1024;
const OPTIONS = { lr: 1e-2, weightDecay: 0.1 };
const STEPS = 4;

const sizeOf = (i: number) => tf.util.sizeFromShape(SHAPES[i] as number[]);
const initial = (i: number) => values(sizeOf(i), i + 7, 1);
// Step 2 has a spike, so every tensor is RMS-clipped once.
const gradient = (t: number, i: number) => values(sizeOf(i), 100 * t + i, t === 2 ? 50 : 0.1);
const variables = (prefix: string) =>
  SHAPES.map((shape, i) => tf.variable(tf.tensor(initial(i), shape), true, `${prefix}_${i}_${Math.random()}`));

for (const backend of ['webgl', 'webgpu'] as const) {
  describe(`tfjs-${backend} training safety (fused kernels)`, () => {
    it("'skip' reads nothing back synchronously (decided on the device)", async () => {
      expect(await tf.setBackend(backend)).toBe(true);
      const vars = variables(`skip_${backend}`);
      const optimizer = new StableAdamW(vars, { lr: 1e-2, nonFinite: 'skip', kernel: 'fused' });
      const step = (t: number, bad?: number) => {
        const grads = vars.map((v, i) => {
          const g = gradient(t, i);
          if (bad !== undefined && i === 2) g[5] = bad;
          return { name: v.name, tensor: tf.tensor(g, v.shape) };
        });
        try {
          optimizer.applyGradients(grads);
        } finally {
          tf.dispose(grads.map((g) => g.tensor));
        }
      };
      const before = await Promise.all(vars.map((v) => v.data()));
      const tensors = tf.memory().numTensors;
      const engine = tf.backend();
      const readSync = vi.spyOn(engine, 'readSync');
      const read = vi.spyOn(engine, 'read');
      step(0, Number.NaN);
      step(0, Number.NEGATIVE_INFINITY);
      expect(readSync).not.toHaveBeenCalled();
      // webgl reads each step's counters with tensor.data() (a fence, polled); webgpu maps a buffer.
      expect(read).toHaveBeenCalledTimes(backend === 'webgl' ? 2 : 0);
      readSync.mockRestore();
      read.mockRestore();
      // webgpu: the counters are read back asynchronously.
      await optimizer.settled();
      expect([optimizer.skippedSteps, optimizer.paramGroups[0]?.step]).toEqual([2, 0]);
      // The moments are allocated at the first step, before the device finds it skipped (zeros: the
      // same trajectory); webgl keeps the counters and the flag chain's zero as tensors.
      expect(tf.memory().numTensors).toBe(tensors + 2 * vars.length + (backend === 'webgl' ? 2 : 0));
      expect(await Promise.all(vars.map((v) => v.data()))).toEqual(before);
      optimizer.dispose();
      tf.dispose(vars);
    });

    // gradScale 1/1024 on gradients × 1024 must match the reference on the unscaled gradients:
    // single-tensor kernels (stepParam) and batched steps (webgpu multi-tensor).
    it.each(['single', 'batched'] as const)('%s kernels fold gradScale into phase 1', async (mode) => {
      expect(await tf.setBackend(backend)).toBe(true);
      const tfjs = createTfjsBackend({ kernel: 'fused' });
      const vars = variables(`scaled_${backend}_${mode}`);
      const infos = vars.map((v, i) => tfjs.describeParam(v, `params[${i}]`));
      const states: TfjsState[] = vars.map((v, i) => tfjs.createState(v, infos[i] as never, false));
      const hyper = resolveOptions(OPTIONS);
      const reference = new ReferenceStableAdamW(
        SHAPES.map((_, i) => initial(i)),
        [{ params: SHAPES.map((_, i) => i), hyperparameters: hyper }],
        'float32',
      );
      for (let t = 1; t <= STEPS; t++) {
        const grads = vars.map((v, i) =>
          tf.tensor(
            gradient(t, i).map((x) => x * SCALE),
            v.shape,
          ),
        );
        const steps: TensorStep<tf.Variable, tf.Tensor, TfjsState>[] = vars.map((param, i) => ({
          param,
          grad: grads[i] as tf.Tensor,
          state: states[i] as TfjsState,
          info: infos[i] as (typeof infos)[number],
          moments: momentScalars(hyper.betas, hyper.eps, t, 'float32', true, 1 / SCALE),
          update: { lr: hyper.lr, numel: sizeOf(i), eps: hyper.eps, weightDecayPerLr: hyper.weightDecay, kahan: false },
        }));
        if (mode === 'batched') tfjs.stepTensors?.(steps);
        for (const s of mode === 'single' ? steps : []) {
          tfjs.applyUpdate(s.param, s.grad, s.state, tfjs.updateMoments(s.param, s.grad, s.state, s.moments), s.update);
        }
        tf.dispose(grads);
        reference.step(SHAPES.map((_, i) => gradient(t, i)));
      }
      // The moments show an ignored gradScale at once (m × 1024); the params only through ε.
      const read = (tensors: tf.Tensor[]) => Promise.all(tensors.map((x) => x.data()));
      const expected = reference.state.map((state) => state as ReferenceTensorState);
      expect(
        excess(
          await read(states.map((s) => s.expAvg)),
          expected.map((s) => s.expAvg),
        ),
      ).toBeLessThanOrEqual(0);
      expect(
        excess(
          await read(states.map((s) => s.expAvgSq)),
          expected.map((s) => s.expAvgSq),
        ),
      ).toBeLessThanOrEqual(0);
      expect(excess(await read(vars), reference.params)).toBeLessThanOrEqual(0);
      for (const state of states) tfjs.disposeState?.(state);
      tf.dispose(vars);
    });
  });
}
