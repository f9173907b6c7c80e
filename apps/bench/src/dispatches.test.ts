import { describe, expect, it } from 'vitest';
import { formatDispatches, summarizeDispatches } from './dispatches.js';

describe('summarizeDispatches', () => {
  it('is empty without samples (rows with nothing to count)', () => {
    expect(summarizeDispatches([])).toEqual({});
  });

  it('takes the median of the timed steps, with submits for WebGPU', () => {
    const s = (dispatches: number, submits: number) => ({ unit: 'webgpu-dispatch' as const, dispatches, submits });
    expect(summarizeDispatches([s(3, 1), s(3, 1), s(3, 1)])).toEqual({
      dispatchUnit: 'webgpu-dispatch',
      dispatchesPerStep: 3,
      submitsPerStep: 1,
    });
    // tfjs flushes its queue every 15 dispatches: submits vary per step, dispatches do not.
    expect(summarizeDispatches([s(20, 1), s(20, 2), s(20, 1)])).toMatchObject({ dispatchesPerStep: 20, submitsPerStep: 1 });
  });

  it('records the range when the steps dispatched different numbers', () => {
    const s = (dispatches: number) => ({ unit: 'gpujs-launch' as const, dispatches });
    expect(summarizeDispatches([s(12), s(14), s(12), s(13)])).toEqual({
      dispatchUnit: 'gpujs-launch',
      dispatchesPerStep: 13,
      dispatchesRange: [12, 14],
    });
  });
});

describe('formatDispatches', () => {
  it('names the unit and the submits', () => {
    expect(formatDispatches({ dispatchUnit: 'webgpu-dispatch', dispatchesPerStep: 3, submitsPerStep: 1 })).toBe(
      '3 dispatches, 1 submit',
    );
    expect(formatDispatches({ dispatchUnit: 'webgpu-dispatch', dispatchesPerStep: 1, submitsPerStep: 2 })).toBe(
      '1 dispatch, 2 submits',
    );
    expect(formatDispatches({ dispatchUnit: 'webgl-draw', dispatchesPerStep: 1540 })).toBe('1540 draws');
    expect(formatDispatches({ dispatchUnit: 'gpujs-launch', dispatchesPerStep: 13, dispatchesRange: [12, 14] })).toBe(
      '12–14 launches',
    );
  });

  it('is — where nothing was counted', () => {
    expect(formatDispatches({})).toBe('—');
    expect(formatDispatches({ dispatchUnit: 'webgl-draw' })).toBe('—');
  });
});
