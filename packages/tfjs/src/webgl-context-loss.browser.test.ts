import '@tensorflow/tfjs-backend-webgl';
import { DeviceError } from '@stable-adamw/core';
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { StableAdamW } from './index.js';

// A lost WebGL context takes every texture with it. The optimizer checks for it before and after
// each step (no readback): found before, the step is refused; found after, the step's counters are
// rolled back and it throws; every later call throws the same DeviceError, and dispose() works.

const gl = () => (tf.backend() as unknown as { gpgpu: { gl: WebGL2RenderingContext } }).gpgpu.gl;

function setup() {
  const vars = [tf.variable(tf.tensor1d([1, 2, 3]), true, `ctx_${Math.random()}`)];
  const opt = new StableAdamW(vars, { lr: 1e-2 });
  const step = () => {
    const g = tf.tensor1d([0.1, -0.2, 0.3]);
    try {
      opt.applyGradients({ [(vars[0] as tf.Variable).name]: g });
    } finally {
      g.dispose();
    }
  };
  const counters = () => ({ step: opt.paramGroups[0]?.step, iterations: opt.iterations });
  return { vars, opt, step, counters };
}

describe('tfjs-webgl: a lost context', () => {
  beforeAll(async () => {
    expect(await tf.setBackend('webgl')).toBe(true);
  });
  afterEach(() => vi.restoreAllMocks());

  it('lost during a step: that step throws a DeviceError with its counters rolled back, and so does every later call', async () => {
    const { vars, opt, step, counters } = setup();
    step();
    step();
    expect(counters()).toEqual({ step: 2, iterations: 2 });
    // Not lost when the step starts, lost when it ends.
    const lost = vi.spyOn(gl(), 'isContextLost').mockReturnValueOnce(false).mockReturnValue(true);
    expect(step).toThrow(DeviceError);
    expect(step).toThrow(/loss of the WebGL context/);
    lost.mockRestore();
    expect(counters()).toEqual({ step: 2, iterations: 2 });
    expect(() => opt.stateDict()).toThrow(DeviceError);
    await expect(opt.getWeights()).rejects.toThrow(DeviceError);
    opt.dispose();
    tf.dispose(vars);
  });

  it('lost before a step (the real extension): the step is refused before anything changes', async () => {
    const { vars, opt, step, counters } = setup();
    step();
    const ext = gl().getExtension('WEBGL_lose_context');
    expect(ext).not.toBeNull();
    ext?.loseContext();
    expect(step).toThrow(DeviceError);
    expect(counters()).toEqual({ step: 1, iterations: 1 });
    opt.dispose();
    tf.dispose(vars);
  });
});
