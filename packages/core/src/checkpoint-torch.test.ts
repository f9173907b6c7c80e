/**
 * Checkpoints against real PyTorch (Debian's python3-torch, run as /usr/bin/python3): the torch
 * halves live in python/tests/interop.py. Skipped locally when torch is absent; CI sets
 * REQUIRE_TORCH=1, where a missing torch fails.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { type ArrayTensor, arrayOptimizer, arrayParam } from '../examples/array-adapter.js';
import { checkpointToStateDict, stateDictToCheckpoint } from './checkpoint-layouts.js';
import type { TensorInfo } from './contract.js';
import { bfloat16ToNumber } from './dtype.js';
import { resolveOptions } from './options.js';
import { ReferenceStableAdamW } from './reference.js';
import type { StateDict } from './state-dict.js';
import { countOutside, goldenGroups, goldenScenario, goldenStateDict } from './testing/golden-scenario.js';

const PYTHON = '/usr/bin/python3';
const PYTHON_DIR = fileURLToPath(new URL('../../../python/', import.meta.url));
const hasTorch = spawnSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
const required = process.env.REQUIRE_TORCH === '1';
if (!hasTorch && !required) {
  console.warn('checkpoint-torch.test.ts skipped: /usr/bin/python3 cannot import torch (apt-get install -y python3-torch).');
}

/** float32 tolerance: |a − b| ≤ 1e-6 + 1e-5·|b|. */
const F32_TOLERANCE = { atol: 1e-6, rtol: 1e-5 };

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

interface SavedTensor {
  dtype: string;
  shape: number[];
  values: number[];
}
interface TorchToJs {
  names: string[];
  shapes: number[][];
  grads: number[][][];
  after: number[][];
}
interface JsToTorch {
  group: Record<string, unknown>;
  steps: number[];
  after: number[][];
}
interface OptimiResave {
  state: { exp_avg: SavedTensor; exp_avg_sq: SavedTensor; kahan_comp?: SavedTensor; step?: number }[];
  group_steps: number[];
  groups: Record<string, unknown>[];
}

function runPython<T>(command: string, files: Record<string, Uint8Array | string> = {}): { dir: string; output: T } {
  const dir = mkdtempSync(join(tmpdir(), 'stable-adamw-ckpt-'));
  dirs.push(dir);
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  const result = spawnSync(PYTHON, ['-m', 'tests.interop', command, dir], { cwd: PYTHON_DIR, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`python ${command} failed:\n${result.stderr}`);
  return { dir, output: JSON.parse(readFileSync(join(dir, 'output.json'), 'utf8')) };
}

const infos = (names: string[], shapes: number[][], dtype: TensorInfo['dtype'] = 'float32'): TensorInfo[] =>
  names.map((name, i) => {
    const shape = shapes[i] as number[];
    return { name, shape, dtype, numel: shape.reduce((a, b) => a * b, 1) };
  });

/** Steps an array-adapter optimizer (float32 storage) on the given gradients. */
function continueArray(opt: ReturnType<typeof arrayOptimizer>, params: ArrayTensor[], grads: number[][][]): void {
  for (const step of grads) {
    step.forEach((g, i) => {
      (params[i] as ArrayTensor).grad = arrayParam(g);
    });
    opt.step();
  }
}

describe('REQUIRE_TORCH', () => {
  it.runIf(required)('torch is importable by /usr/bin/python3 (CI installs python3-torch)', () => {
    expect(hasTorch, 'REQUIRE_TORCH=1 but /usr/bin/python3 cannot import torch: apt-get install -y python3-torch').toBe(true);
  });
});

describe.runIf(hasTorch)('checkpoints against PyTorch', () => {
  it('torch AdamW → JS: 5 torch steps, load as torch-adamw, 5 more steps on both sides agree to float32 tolerance', () => {
    const { dir, output } = runPython<TorchToJs>('torch-to-js');
    const bytes = new Uint8Array(readFileSync(join(dir, 'torch.safetensors')));
    // The JS optimizer lists the params in reverse: they are matched by name.
    const order = [3, 2, 1, 0];
    const names = order.map((i) => output.names[i] as string);
    const groups = [
      infos(
        names,
        order.map((i) => output.shapes[i] as number[]),
      ),
    ];
    const loaded = checkpointToStateDict(bytes, { layout: 'torch-adamw', groups });
    const params = loaded.paramValues.map((p) => arrayParam(p?.values ?? [], 'float32'));
    const opt = arrayOptimizer(params, { lr: 1 });
    opt.loadStateDict(loaded.stateDict);
    expect(opt.paramGroups[0]).toMatchObject({ lr: 1e-2, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01, step: 5 });

    // The float64 reference from the same state: it also reports that clipping never triggered.
    const ref = new ReferenceStableAdamW(
      params.map((p) => p.values),
      [
        {
          params: [0, 1, 2, 3],
          hyperparameters: { ...resolveOptions({ lr: 1e-2, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01 }) },
        },
      ],
      'float32',
    );
    ref.groupSteps[0] = 5;
    params.forEach((_, i) => {
      const s = loaded.stateDict.state[i] as StateDict['state'][string];
      ref.state[i] = {
        expAvg: Float64Array.from(s.exp_avg as number[]),
        expAvgSq: Float64Array.from(s.exp_avg_sq as number[]),
        kahanComp: null,
      };
    });

    const grads: number[][][] = output.grads.map((step: number[][]) => order.map((i) => step[i] as number[]));
    continueArray(opt, params, grads);
    for (const step of grads) {
      ref.step(step);
      for (const rms of ref.lastRms) expect(rms).toBeLessThanOrEqual(1);
    }
    order.forEach((i, k) => {
      const expected = output.after[i] as number[];
      expect(countOutside((params[k] as ArrayTensor).values, expected, F32_TOLERANCE)).toBe(0);
      expect(countOutside(ref.params[k] as Float64Array, expected, F32_TOLERANCE)).toBe(0);
    });
  });

  it('JS → torch AdamW: 5 JS steps, save as torch-adamw, 5 more steps on both sides agree to float32 tolerance', () => {
    const names = ['w', 'b'];
    const shapes = [[3, 4], [3]];
    const init = [Array.from({ length: 12 }, (_, i) => Math.sin(i + 1) / 2), [0.1, -0.2, 0.3]];
    const params = init.map((v) => arrayParam(v, 'float32'));
    const opt = arrayOptimizer(params, { lr: 1e-2, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01 });
    let last: number[][] = [];
    for (let t = 1; t <= 5; t++) {
      last = params.map((p, i) => Array.from(p.values, (_, j) => Math.fround(Math.cos(t * 1.7 + j * 0.3 + i) * (1 + j / 7))));
      continueArray(opt, params, [last]);
    }
    const groups = [infos(names, shapes)];
    const bytes = stateDictToCheckpoint(opt.stateDict() as StateDict, {
      layout: 'torch-adamw',
      groups,
      params: params.map((p) => p.values),
    });
    const grads = Array.from({ length: 5 }, (_, j) => last.map((g) => g.map((x) => Math.fround(0.3 * 0.9 ** j * x))));
    const { output } = runPython<JsToTorch>('js-to-torch', {
      'js.safetensors': bytes,
      'input.json': JSON.stringify({ names, shapes, grads }),
    });
    expect(output.group).toMatchObject({ lr: 1e-2, betas: [0.9, 0.999], eps: 1e-8, weight_decay: 0.01, amsgrad: false });
    expect(output.steps).toEqual([5, 5]);
    continueArray(opt, params, grads);
    params.forEach((p, i) => {
      expect(countOutside(p.values, output.after[i] as number[], F32_TOLERANCE)).toBe(0);
    });
  });

  it("optimi layout through Python: golden state → JS file → optimi-shaped optimizer → Python file → JS continues on optimi's trajectory", () => {
    const s = goldenScenario('param-groups-f32');
    const k = 8;
    const groups = goldenGroups(s);
    const names = groups.flat().map((info) => info.name as string);
    const js = stateDictToCheckpoint(goldenStateDict(s, k), { layout: 'optimi', groups, params: s.steps[k - 1]?.params });
    const spec = { dtype: 'float32', shapes: s.params.map((p) => p.shape), groups: s.groups.map((g) => g.params), names };
    const { dir, output } = runPython<OptimiResave>('optimi-resave', {
      'js.safetensors': js,
      'input.json': JSON.stringify(spec),
    });
    // What torch holds after loading: the golden moments exactly, optimi's group keys and steps.
    (s.steps[k - 1]?.state ?? []).forEach((m, i) => {
      expect(output.state[i]?.exp_avg).toEqual({ dtype: 'torch.float32', shape: s.params[i]?.shape, values: m?.exp_avg });
      expect(output.state[i]?.exp_avg_sq.values).toEqual(m?.exp_avg_sq);
    });
    expect(output.group_steps).toEqual([k, k]);
    expect(output.groups[0]).toMatchObject({ lr: 0.003, beta1: 0.8, beta2: 0.9, weight_decay: 0.1 });

    const loaded = checkpointToStateDict(new Uint8Array(readFileSync(join(dir, 'python.safetensors'))), {
      layout: 'optimi',
      groups,
    });
    const params = loaded.paramValues.map((p) => arrayParam(p?.values ?? [], 'float32'));
    const opt = arrayOptimizer(
      s.groups.map((g) => ({ params: g.params.map((i) => params[i] as ArrayTensor) })),
      { lr: 123 },
    );
    opt.loadStateDict(loaded.stateDict);
    for (const step of s.steps.slice(k)) {
      continueArray(opt, params, [step.grads as number[][]]);
      step.params.forEach((expected, i) => {
        expect(countOutside((params[i] as ArrayTensor).values, expected, s.tolerance)).toBe(0);
      });
    }
  });

  it('bf16 params with kahan_comp survive JS → torch → JS bit for bit', () => {
    const bits = (seed: number, n: number) => Array.from({ length: n }, (_, i) => (seed * 7919 + i * 104729) & 0x7f7f);
    const shapes = [[2, 3], [4]];
    const groups = [infos(['a', 'b'], shapes, 'bfloat16')];
    const state: StateDict['state'] = {};
    shapes.forEach((shape, i) => {
      const n = shape.reduce((x, y) => x * y, 1);
      state[i] = {
        exp_avg: bits(i + 1, n).map((b) => bfloat16ToNumber(b ^ 0x8000)),
        exp_avg_sq: bits(i + 11, n).map(bfloat16ToNumber),
        kahan_comp: bits(i + 21, n).map((b) => bfloat16ToNumber(b & 0x3fff)),
        step: 9 + i,
      };
    });
    const group = {
      lr: 1e-3,
      beta1: 0.9,
      beta2: 0.99,
      eps: 1e-6,
      weight_decay: 0,
      decouple_lr: false,
      max_lr: null,
      kahan_sum: true,
      gradient_release: true,
      step: 10,
      params: [0, 1],
    };
    const sd: StateDict = { state, param_groups: [group] };
    const paramValues = shapes.map((shape, i) =>
      bits(
        i + 31,
        shape.reduce((x, y) => x * y, 1),
      ).map(bfloat16ToNumber),
    );
    const js = stateDictToCheckpoint(sd, { layout: 'optimi', groups, params: paramValues });
    const spec = { dtype: 'bfloat16', shapes, groups: [[0, 1]], names: ['a', 'b'], gradient_release: true };
    const { dir, output } = runPython<OptimiResave>('optimi-resave', {
      'js.safetensors': js,
      'input.json': JSON.stringify(spec),
    });
    expect(output.state[0]?.kahan_comp?.dtype).toBe('torch.bfloat16');
    expect(output.state.map((e) => e.step)).toEqual([9, 10]);
    const back = checkpointToStateDict(new Uint8Array(readFileSync(join(dir, 'python.safetensors'))), {
      layout: 'optimi',
      groups,
    });
    expect(back.stateDict.state).toEqual(state);
    expect(back.paramValues.map((p) => Array.from(p?.values ?? []))).toEqual(paramValues);
  });
});
