import { describe, expect, it } from 'vitest';
import { InvalidHyperparameterError, StateDictError } from './errors.js';
import { DynamicLossScaler } from './loss-scaler.js';

describe('DynamicLossScaler', () => {
  it("starts at 2^16 and doubles after 2000 clean steps, as PyTorch's GradScaler", () => {
    const scaler = new DynamicLossScaler();
    expect(scaler.scale).toBe(65536);
    expect(scaler.scaleLoss(0.5)).toBe(32768);
    for (let i = 0; i < 1999; i++) scaler.update(false);
    expect(scaler.scale).toBe(65536);
    scaler.update(false);
    expect(scaler.scale).toBe(131072);
    expect(scaler.stateDict().growth_tracker).toBe(0);
  });

  it('halves on an overflow and restarts the clean-step count', () => {
    const scaler = new DynamicLossScaler({ growthInterval: 3 });
    scaler.update(false);
    scaler.update(false);
    scaler.update(true);
    expect(scaler.scale).toBe(32768);
    scaler.update(false);
    scaler.update(false);
    expect(scaler.scale).toBe(32768);
    scaler.update(false);
    expect(scaler.scale).toBe(65536);
  });

  it('stays within [minScale, maxScale]', () => {
    const scaler = new DynamicLossScaler({ initScale: 4, minScale: 2, maxScale: 8, growthInterval: 1 });
    scaler.update(true);
    scaler.update(true);
    expect(scaler.scale).toBe(2);
    for (let i = 0; i < 5; i++) scaler.update(false);
    expect(scaler.scale).toBe(8);
  });

  it.each([
    [{ initScale: 0 }, 'initScale'],
    [{ initScale: 2 ** 30 }, 'initScale'],
    [{ growthFactor: 1 }, 'growthFactor'],
    [{ backoffFactor: 1 }, 'backoffFactor'],
    [{ growthInterval: 2.5 }, 'growthInterval'],
    [{ minScale: Number.NaN }, 'minScale'],
    [{ maxScale: 2 ** -30 }, 'maxScale'],
    [{ growth_interval: 10 }, 'growth_interval'],
  ])('rejects %o naming %s', (options, parameter) => {
    expect(() => new DynamicLossScaler(options as never)).toThrow(InvalidHyperparameterError);
    try {
      new DynamicLossScaler(options as never);
    } catch (error) {
      expect((error as InvalidHyperparameterError).parameter).toBe(parameter);
    }
  });

  it('round-trips its state and refuses a bad one without changing', () => {
    const scaler = new DynamicLossScaler({ growthInterval: 5 });
    scaler.update(true);
    scaler.update(false);
    const saved = JSON.parse(JSON.stringify(scaler.stateDict()));
    expect(saved).toEqual({
      scale: 32768,
      growth_factor: 2,
      backoff_factor: 0.5,
      growth_interval: 5,
      growth_tracker: 1,
      min_scale: 2 ** -24,
      max_scale: 2 ** 24,
    });
    const resumed = new DynamicLossScaler();
    resumed.loadStateDict(saved);
    expect(resumed.stateDict()).toEqual(saved);
    expect(() => resumed.loadStateDict({ ...saved, growth_tracker: 5 })).toThrow(StateDictError);
    expect(() => resumed.loadStateDict({ ...saved, scale: Number.NaN })).toThrow(/`loss_scaler.scale` is NaN/);
    expect(resumed.stateDict()).toEqual(saved);
  });
});
