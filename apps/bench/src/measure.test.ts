import { InvalidParamError } from '@stable-adamw/core';
import { describe, expect, it } from 'vitest';
import { measureRow, skipReason } from './measure.js';
import { shapes } from './shapes.js';
import { type BenchSubject, SkipRow, upTo } from './subjects/subject.js';

const [large, , , target] = shapes(true);
if (!large || !target) throw new Error('shapes changed');

function subject(open: BenchSubject['open'], extra: Partial<BenchSubject> = {}): BenchSubject {
  return {
    id: 'fake',
    backend: 'fake',
    implementation: 'fake',
    algorithm: 'stable-adamw',
    threads: 1,
    dtypes: ['float32'],
    open,
    ...extra,
  };
}

const options = { warmup: 2, steps: 5, environment: 'node' as const, hostMemory: () => ({ rssBytes: 100 }) };

describe('measureRow', () => {
  it('runs warm-up then timed steps, keeps peak memory and closes', async () => {
    let steps = 0;
    let closed = 0;
    const row = await measureRow(
      subject(async () => ({
        step: () => {
          steps++;
        },
        memory: () => ({ numTensors: steps }),
        close: () => {
          closed++;
          return { leakedTensors: 0 };
        },
      })),
      large,
      'float32',
      options,
    );
    expect(steps).toBe(7);
    expect(closed).toBe(1);
    expect(row.status).toBe('ok');
    expect(row.timing?.steps).toBe(5);
    expect(row.memory).toEqual({ rssBytes: 100, numTensors: 7 });
    expect(row.leakedTensors).toBe(0);
    expect(row.params).toBe(large.tensors.reduce((a, b) => a + b));
  });

  it("times a step by the subject's own clock when it reports one (a child process timing itself)", async () => {
    let step = 0;
    const row = await measureRow(
      subject(async () => ({
        step: () => {
          step++;
        },
        // Warm-up steps 1–2, then 10, 20, 30, 40, 50 ms.
        lastStepMs: () => (step - 2) * 10,
        memory: () => ({}),
        close: () => ({}),
      })),
      large,
      'float32',
      options,
    );
    expect(row.timing).toMatchObject({ medianMs: 30, minMs: 10, maxMs: 50, q1Ms: 20, q3Ms: 40 });
  });

  it('records a crash as failed (closing what was opened) and SkipRow as skipped', async () => {
    let closed = 0;
    const failing = await measureRow(
      subject(async () => ({
        step: () => {
          throw new Error('kernel exploded');
        },
        memory: () => ({}),
        close: () => {
          closed++;
          return {};
        },
      })),
      large,
      'float32',
      options,
    );
    expect(failing).toMatchObject({ status: 'failed', reason: 'kernel exploded' });
    expect(closed).toBe(1);
    const skipped = await measureRow(
      subject(async () => {
        throw new SkipRow('same as auto');
      }),
      large,
      'float32',
      options,
    );
    expect(skipped).toMatchObject({ status: 'skipped', reason: 'same as auto' });
  });
});

describe('measureRow on GPU subjects', () => {
  it('records the kernel path and the dispatches of the timed steps (not the warm-up)', async () => {
    let step = 0;
    const row = await measureRow(
      subject(async () => ({
        kernelPath: 'webgpu-multi-tensor',
        detail: 'webgpu-multi-tensor',
        step: () => {
          step++;
        },
        // The first (warm-up) step creates state: more dispatches, which must not count.
        dispatches: () => ({ unit: 'webgpu-dispatch', dispatches: step === 1 ? 40 : 3, submits: 1 }),
        memory: () => ({}),
        close: () => ({}),
      })),
      large,
      'float32',
      options,
    );
    expect(row).toMatchObject({
      kernelPath: 'webgpu-multi-tensor',
      dispatchUnit: 'webgpu-dispatch',
      dispatchesPerStep: 3,
      submitsPerStep: 1,
    });
    expect(row.dispatchesRange).toBeUndefined();
  });

  it('skips a shape the device cannot hold with the adapter’s reason, instead of failing', async () => {
    const limit = new InvalidParamError(
      'w0',
      'has 67108864 elements, more than one WebGL texture holds (maxTextureSize 8192, so 67108864 elements)',
      'Split the variable.',
    );
    const row = await measureRow(
      subject(async () => {
        throw limit;
      }),
      large,
      'float32',
      options,
    );
    expect(row.status).toBe('skipped');
    expect(row.reason).toBe(`device limit: ${limit.message}`);
  });
});

describe('skipReason', () => {
  it('skips unsupported dtypes, the cpu-only shape and shapes over the limit, in that order', () => {
    const open = async () => {
      throw new Error('not opened');
    };
    expect(skipReason(subject(open, { dtypeNote: 'tfjs has no bfloat16' }), large, 'bfloat16')).toBe('n/a: tfjs has no bfloat16');
    expect(skipReason(subject(open), target, 'float32')).toMatch(/typed-array backends only/);
    expect(skipReason(subject(open, { cpuShapes: true }), target, 'float32')).toBeUndefined();
    expect(skipReason(subject(open, { limit: upTo(10, 'slow') }), large, 'float32')).toBe('slow');
    expect(skipReason(subject(open, { limit: upTo(10, 'slow bf16', 'bfloat16') }), large, 'float32')).toBeUndefined();
    expect(skipReason(subject(open, { cpuShapes: true, dtypes: ['float32', 'bfloat16'] }), target, 'bfloat16')).toBe(
      'the target shape is float32 only',
    );
  });
});
