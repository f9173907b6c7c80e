import { spawnSync } from 'node:child_process';
import { ReferenceStableAdamW, resolveOptions } from '@stable-adamw/core/adapter';
import { describe, expect, it } from 'vitest';
import { buildNative, findCompiler, type NativeVariant } from './native-c-build.js';
import { parseCheck } from './native-c-protocol.js';
import { seededValues } from './values.js';

// A one-element tensor, and one of three blocks with a ragged tail (the kernel's blocks are 16384).
const SIZES = [1, 40_003];
// Step 1's gradients fall under the ε² floor of v, step 2's jump clips the learning rate (RMS > 1).
const SCALES = ['1e-7', '1', '0.01', '0.3'];
const HYPER = { lr: 1e-2, betas: [0.9, 0.99] as [number, number], eps: 1e-6, weightDecay: 0.1 };
// The conformance suite's float32 tolerance against the float64 reference (referenceTolerances).
const ATOL = 1e-6;
const RTOL = 1e-5;

/** The float64 reference on the same seeded data as the C program's check mode; also the largest RMS seen. */
function reference(): { result: ReferenceStableAdamW; maxRms: number } {
  const init = SIZES.map((n, i) => seededValues(n, 2 * i + 1, 1));
  const result = new ReferenceStableAdamW(
    init,
    [{ params: SIZES.map((_, i) => i), hyperparameters: resolveOptions(HYPER) }],
    'float32',
  );
  let maxRms = 0;
  SCALES.forEach((scale, s) => {
    result.step(SIZES.map((n, i) => seededValues(n, 1000 * (s + 1) + i, Number(scale))));
    maxRms = Math.max(maxRms, ...result.lastRms.map((r) => r ?? 0));
  });
  return { result, maxRms };
}

function worstExcess(actual: readonly number[][], expected: readonly ArrayLike<number>[]): number {
  let worst = Number.NEGATIVE_INFINITY;
  actual.forEach((values, t) => {
    values.forEach((a, j) => {
      const e = expected[t]?.[j] as number;
      worst = Math.max(worst, Math.abs(a - e) - (ATOL + RTOL * Math.abs(e)));
    });
  });
  return worst;
}

const compiler = findCompiler();

describe.skipIf(!compiler)('native-c kernel against the float64 reference (needs a C compiler: $CC, cc or gcc)', () => {
  const { result, maxRms } = reference();

  it('the data exercises the clipped learning rate', () => {
    expect(maxRms).toBeGreaterThan(1);
  });

  const cases: [NativeVariant, number][] = [
    ['128', 1],
    ['128', 2],
    ['native', 2],
  ];
  it.each(cases)(
    'native-c-%s build, %i thread(s): params and moments within float32 tolerance after 4 steps',
    async (variant, threads) => {
      const { binary } = await buildNative(variant);
      const { lr, betas, eps, weightDecay } = HYPER;
      const args = ['check', threads, lr, betas[0], betas[1], eps, weightDecay, SIZES.join(','), SCALES.join(',')];
      const run = spawnSync(binary, args.map(String), { encoding: 'utf8', maxBuffer: 64 * 2 ** 20 });
      expect(run.status, run.stderr).toBe(0);
      const native = parseCheck(run.stdout, SIZES);
      expect(native.threads).toBe(threads);
      expect(worstExcess(native.params, result.params)).toBeLessThanOrEqual(0);
      expect(
        worstExcess(
          native.expAvg,
          result.state.map((s) => s?.expAvg ?? []),
        ),
      ).toBeLessThanOrEqual(0);
      expect(
        worstExcess(
          native.expAvgSq,
          result.state.map((s) => s?.expAvgSq ?? []),
        ),
      ).toBeLessThanOrEqual(0);
    },
  );
});
