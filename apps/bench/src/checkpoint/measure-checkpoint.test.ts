import { describe, expect, it } from 'vitest';
import { type CheckpointResult, checkpointSizes, mbPerSec, measureCheckpoints, relativeToCopy } from './measure-checkpoint.js';

const GiB = 2 ** 30;

describe('checkpointSizes', () => {
  it('64M params (512 MiB of state) and JSON at 8M when the heap holds the state dict; halved when not', () => {
    expect(checkpointSizes(false, 8 * GiB)).toEqual({ params: 64 << 20, jsonParams: 8 << 20, reps: 1, jsonReps: 3 });
    // 64 B per param of heap: 2 GiB holds 32M.
    expect(checkpointSizes(false, 2 * GiB)).toMatchObject({ params: 32 << 20, jsonParams: 8 << 20 });
    expect(checkpointSizes(false, 0.25 * GiB)).toMatchObject({ params: 8 << 20, reps: 3 });
    expect(checkpointSizes(true, 8 * GiB)).toEqual({ params: 256 << 10, jsonParams: 64 << 10, reps: 2, jsonReps: 2 });
  });
});

describe('mbPerSec and relativeToCopy', () => {
  it('state bytes per second in 10^6 B/s, and each figure ÷ the copy at the same size', () => {
    expect(mbPerSec(512e6, 1000)).toBe(512);
    const at = (op: CheckpointResult['op'], params: number, mb: number): CheckpointResult => ({
      op,
      params,
      stateBytes: params * 8,
      encodedBytes: params * 8,
      medianMs: 1,
      reps: 1,
      mbPerSec: mb,
    });
    const [copy, save, json] = relativeToCopy([at('copy', 100, 1000), at('safetensors-save', 100, 250), at('json-save', 50, 10)]);
    expect(copy?.vsCopy).toBeUndefined();
    expect(save?.vsCopy).toBe(0.25);
    // No copy measured at 50 params: no ratio.
    expect(json?.vsCopy).toBeUndefined();
  });
});

describe('measureCheckpoints', () => {
  it('times copy, safetensors save/load and the JSON path through the cpu adapter (tiny sizes)', async () => {
    const results = await measureCheckpoints({ params: 4096, jsonParams: 1024, reps: 1, jsonReps: 1 });
    expect(results.map((r) => `${r.op}/${r.params}`)).toEqual([
      'copy/4096',
      'safetensors-save/4096',
      'safetensors-load/4096',
      'copy/1024',
      'safetensors-save/1024',
      'safetensors-load/1024',
      'json-save/1024',
      'json-load/1024',
    ]);
    for (const r of results) {
      expect(r.stateBytes).toBe(r.params * 8);
      expect(r.mbPerSec).toBeGreaterThan(0);
    }
    const save = results.find((r) => r.op === 'safetensors-save');
    // A safetensors file: the float32 moments plus its header (hyperparameters, names, offsets).
    expect(save?.encodedBytes).toBeGreaterThan(4096 * 8);
    expect(save?.vsCopy).toBeGreaterThan(0);
  });
});
