import { type StateDict, StateDictError } from '@stable-adamw/core';
import { expect, it } from 'vitest';
import type { CpuParam } from './param.js';
import { StableAdamW } from './stable-adamw.js';

// stateDict() is a Promise on tfjs and gpu.js; one passed unawaited is refused by name, here too.
it('refuses an unawaited stateDict() (a Promise), saying to await it, and changes nothing', async () => {
  const param: CpuParam = { data: Float32Array.of(1, -2), grad: Float32Array.of(0.5, 0.25) };
  const optimizer = new StableAdamW([param], { lr: 0.1 });
  optimizer.step();
  const other = new StableAdamW([{ data: Float32Array.of(3, 4), grad: Float32Array.of(1, 1) }], { lr: 0.5 });
  other.step();
  other.step();
  const before = { data: Array.from(param.data), state: JSON.stringify(optimizer.stateDict()) };

  const unawaited = Promise.resolve(other.stateDict()) as unknown as StateDict;
  let error: unknown;
  try {
    optimizer.loadStateDict(unawaited);
  } catch (caught) {
    error = caught;
  }
  expect(error).toBeInstanceOf(StateDictError);
  expect((error as StateDictError).code).toBe('invalid_state_dict');
  expect((error as StateDictError).message).toMatch(/await stateDict\(\) first/);
  expect({ data: Array.from(param.data), state: JSON.stringify(optimizer.stateDict()) }).toEqual(before);

  optimizer.loadStateDict(await unawaited); // awaited, the same dict loads
  expect(optimizer.paramGroups[0]?.step).toBe(2);
});
