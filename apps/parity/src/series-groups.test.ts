import { describe, expect, it } from 'vitest';
import { groupIdenticalSeries } from './series-groups.js';

describe('groupIdenticalSeries', () => {
  it('merges series with identical points under all their names, in order of first appearance', () => {
    const a = [
      [1, 1e-7],
      [2, 2e-7],
    ] as const;
    const b = [
      [1, 0],
      [2, 0],
    ] as const;
    expect(
      groupIdenticalSeries([
        { name: 'tfjs-cpu', points: a },
        { name: 'cpu-f32', points: b },
        {
          name: 'gpujs-webgl',
          points: [
            [1, 1e-7],
            [2, 2e-7],
          ],
        },
        {
          name: 'gpujs-cpu',
          points: [
            [1, 1e-7],
            [2, 3e-7],
          ],
        },
      ]),
    ).toEqual([
      { name: 'tfjs-cpu, gpujs-webgl', points: a },
      { name: 'cpu-f32', points: b },
      {
        name: 'gpujs-cpu',
        points: [
          [1, 1e-7],
          [2, 3e-7],
        ],
      },
    ]);
  });
});
