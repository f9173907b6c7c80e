import { describe, expect, it } from 'vitest';
import { type PeerRow, peerComparisons, speedRatio } from './peers.js';

function row(subject: string, shape: PeerRow['shape'], medianMs: number | undefined, extra: Partial<PeerRow> = {}): PeerRow {
  const backend = subject.replace(/-(adam|adamw|composed)$/, '');
  return {
    subject,
    backend,
    implementation: 'test',
    algorithm: subject.endsWith('-adam') ? 'adam' : subject.endsWith('-adamw') ? 'adamw' : 'stable-adamw',
    environment: 'chromium',
    threads: 1,
    shape,
    dtype: 'float32',
    params: 4e6,
    tensors: 512,
    status: medianMs === undefined ? 'skipped' : 'ok',
    ...(medianMs === undefined
      ? {}
      : {
          timing: { medianMs, q1Ms: medianMs, q3Ms: medianMs, minMs: medianMs, maxMs: medianMs, steps: 10 },
          paramsPerSec: 4e6 / (medianMs / 1e3),
        }),
    ...extra,
  };
}

describe('speedRatio', () => {
  it('is the peer’s step time ÷ ours (> 1: ours is faster), undefined unless both ran', () => {
    expect(speedRatio(row('tfjs-webgl', 'small', 100), row('tfjs-webgl-adam', 'small', 150))).toBe(1.5);
    expect(speedRatio(row('tfjs-webgl', 'small', 100), row('tfjs-webgl-adam', 'small', undefined))).toBeUndefined();
    expect(speedRatio(undefined, row('tfjs-webgl-adam', 'small', 150))).toBeUndefined();
  });
});

describe('peerComparisons', () => {
  it('pairs each tfjs backend × shape with tf.train.adam and Adam + decay on the same backend, shape and environment', () => {
    const peers = peerComparisons([
      row('tfjs-webgpu', 'small', 200, { kernelPath: 'webgpu-multi-tensor', dispatchesPerStep: 3 }),
      row('tfjs-webgpu-composed', 'small', 400, { kernelPath: 'composed', dispatchesPerStep: 2560 }),
      row('tfjs-webgpu-adam', 'small', 300, { dispatchesPerStep: 2048 }),
      row('tfjs-webgpu-adamw', 'small', 500, { dispatchesPerStep: 2560 }),
      // Another shape, environment or backend does not pair.
      row('tfjs-webgpu-adam', 'large', 10),
      row('tfjs-webgl-adam', 'small', 10),
      row('tfjs-webgpu-adamw', 'small', 10, { environment: 'node' }),
      // Not a tfjs backend.
      row('gpujs-webgpu', 'small', 100),
      // A shape none of the three ran.
      row('tfjs-webgpu', 'target', undefined),
      row('tfjs-webgpu-adam', 'target', undefined),
    ]);
    expect(peers).toEqual([
      {
        environment: 'chromium',
        backend: 'tfjs-webgpu',
        shape: 'small',
        subject: 'tfjs-webgpu',
        kernelPath: 'webgpu-multi-tensor',
        paramsPerSec: 2e7,
        adamParamsPerSec: 4e6 / 0.3,
        adamwParamsPerSec: 8e6,
        vsAdam: 1.5,
        vsAdamW: 2.5,
        dispatchesPerStep: 3,
        adamDispatchesPerStep: 2048,
        adamwDispatchesPerStep: 2560,
      },
    ]);
  });

  it('keeps a comparison whose rows did not all run, without the ratios it cannot compute', () => {
    const [peer] = peerComparisons([
      row('tfjs-cpu', 'large', 100, { kernelPath: 'composed' }),
      row('tfjs-cpu-adam', 'large', undefined),
    ]);
    expect(peer).toEqual({
      environment: 'chromium',
      backend: 'tfjs-cpu',
      shape: 'large',
      subject: 'tfjs-cpu',
      kernelPath: 'composed',
      paramsPerSec: 4e7,
      dispatchesPerStep: null,
      adamDispatchesPerStep: null,
      adamwDispatchesPerStep: null,
    });
  });
});
