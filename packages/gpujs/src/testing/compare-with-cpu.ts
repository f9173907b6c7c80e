import { SeededRandom } from '@stable-adamw/conformance';
import type { StateDict } from '@stable-adamw/core';
import { StableAdamW as CpuStableAdamW } from '@stable-adamw/cpu';
import type { GPU } from 'gpu.js';
import type { GpuJsParam } from '../param.js';
import { StableAdamW } from '../stable-adamw.js';

/** Largest differences seen between the gpu.js and cpu adapters. */
export interface CpuComparison {
  /** Max |θ_gpujs − θ_cpu| over all steps and elements. */
  maxParamError: number;
  /** Max of |m − m_cpu| / (1e-6 + 1e-5·|m_cpu|) over exp_avg and exp_avg_sq: ≤ 1 is within optimi's fp32 tolerance. */
  maxStateToleranceRatio: number;
  /** The gpu.js kernel classes that ran. */
  executedModes: readonly string[];
}

interface HostParam {
  data: Float32Array;
  grad: Float32Array | null;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs((a[i] as number) - (b[i] as number)));
  return max;
}

function maxStateDiff(a: StateDict, b: StateDict): number {
  let max = 0;
  for (const [key, entry] of Object.entries(b.state)) {
    const other = a.state[key];
    if (!other) throw new Error(`state ${key} missing`);
    for (const field of ['exp_avg', 'exp_avg_sq'] as const) {
      entry[field].forEach((value, i) => {
        const x = Number(value);
        max = Math.max(max, Math.abs(Number(other[field][i]) - x) / (1e-6 + 1e-5 * Math.abs(x)));
      });
    }
  }
  return max;
}

/**
 * Runs the gpu.js adapter on `gpu` and the cpu adapter side by side (float32, spiky gradients so
 * the RMS clip engages, weight decay), then swaps state dicts both ways and keeps going, and
 * finally reloads the gpu.js adapter's own state dict (back onto the host) and steps on.
 */
export async function compareWithCpu(
  gpu: GPU,
  { steps = 12, seed = 7, sizes = [1, 7, 300, 2000, 300] }: { steps?: number; seed?: number; sizes?: readonly number[] } = {},
): Promise<CpuComparison> {
  const rng = new SeededRandom(seed);
  // (The default sizes: two of one size share kernels.)
  const inits = sizes.map((n) => Float32Array.from({ length: n }, () => rng.normal() * 0.5));
  const options = { lr: 0.02, weightDecay: 0.1, betas: [0.9, 0.99] as [number, number] };
  const gpuParams: GpuJsParam[] = inits.map((init) => ({ data: init.slice() }));
  const cpuParams: HostParam[] = inits.map((init) => ({ data: init.slice(), grad: null }));
  const gpujs = new StableAdamW(gpuParams, { ...options, gpu });
  const cpu = new CpuStableAdamW(cpuParams, options);
  let maxParamError = 0;
  const stepBoth = async (t: number, cpuOpt: CpuStableAdamW, cpuPs: HostParam[]) => {
    sizes.forEach((n, i) => {
      const scale = t % 4 === 3 ? 50 : 1; // spikes: RMS > 1, the learning rate is clipped
      const grad = Float32Array.from({ length: n }, () => rng.normal() * scale);
      (gpuParams[i] as GpuJsParam).grad = grad;
      (cpuPs[i] as HostParam).grad = grad;
    });
    await gpujs.step();
    cpuOpt.step();
    const values = await gpujs.readParams();
    values.forEach((v, i) => {
      maxParamError = Math.max(maxParamError, maxAbsDiff(v, (cpuPs[i] as HostParam).data));
    });
  };
  for (let t = 0; t < steps; t++) await stepBoth(t, cpu, cpuParams);
  let maxStateToleranceRatio = maxStateDiff(await gpujs.stateDict(), cpu.stateDict());

  // Interchange: a fresh cpu optimizer resumes from the gpu.js state dict and current params.
  const resumedParams: HostParam[] = (await gpujs.readParams()).map((data) => ({ data, grad: null }));
  const resumed = new CpuStableAdamW(resumedParams, options);
  resumed.loadStateDict(JSON.parse(JSON.stringify(await gpujs.stateDict())) as StateDict);
  for (let t = steps; t < steps + 4; t++) await stepBoth(t, resumed, resumedParams);
  maxStateToleranceRatio = Math.max(maxStateToleranceRatio, maxStateDiff(await gpujs.stateDict(), resumed.stateDict()));
  await gpujs.loadStateDict(JSON.parse(JSON.stringify(await gpujs.stateDict())) as StateDict);
  for (let t = steps + 4; t < steps + 7; t++) await stepBoth(t, resumed, resumedParams);
  maxStateToleranceRatio = Math.max(maxStateToleranceRatio, maxStateDiff(await gpujs.stateDict(), resumed.stateDict()));
  const { executedModes } = gpujs.stats;
  await gpujs.dispose();
  return { maxParamError, maxStateToleranceRatio, executedModes };
}
