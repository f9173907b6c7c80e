import { measureScenario } from '@stable-adamw/conformance';
import { describe, expect, it } from 'vitest';
import { measureWithLimit } from './measure-scenario.js';
import { nodeBackends } from './node-backends.js';
import { scenariosFor } from './scenarios.js';

describe('measureWithLimit', () => {
  it("agrees with conformance's measureScenario on every shared field, pass and fail alike", async () => {
    const cpu = nodeBackends().find((b) => b.id === 'cpu-wasm-bf16');
    const target = await cpu?.open();
    if (!target) throw new Error('cpu-wasm-bf16 did not open');
    const scenarios = (await scenariosFor('bfloat16', { steps: 5, seed: 4, quick: true })).filter(({ scenario }) =>
      ['golden/bf16-kahan', 'spikes-bfloat16'].includes(scenario.name),
    );
    expect(scenarios).toHaveLength(2);
    const nudged = {
      ...target,
      create: (spec: Parameters<typeof target.create>[0]) =>
        target.create({ ...spec, options: { ...spec.options, lr: spec.options.lr * 3 } }),
    };
    const verdicts: boolean[] = [];
    for (const t of [target, nudged]) {
      for (const { scenario, against } of scenarios) {
        const ours = await measureWithLimit(t, scenario, against);
        const { worstErrorOverLimit, ...shared } = ours;
        expect(shared).toEqual(await measureScenario(t, scenario, against));
        // Every element within its limit passes; the seeded scenario allows no outliers, so there it is exactly pass.
        if (worstErrorOverLimit <= 1) expect(ours.pass).toBe(true);
        if (scenario.name === 'spikes-bfloat16') verdicts.push(worstErrorOverLimit <= 1, ours.pass);
      }
    }
    expect(verdicts).toEqual([true, true, false, false]);
  });
});
