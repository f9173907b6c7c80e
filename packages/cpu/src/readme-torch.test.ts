/**
 * The root README's "Continue a PyTorch run in JavaScript (and back)": its Python snippets
 * (python/examples/) and its JavaScript snippet (examples/torch-checkpoint/) appear there verbatim
 * and run, against real PyTorch (Debian's python3-torch as /usr/bin/python3). Skipped when torch is
 * absent, failing instead under REQUIRE_TORCH=1 (as CI sets).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { runExample } from '../../../tooling/run-example.js';

const PYTHON = '/usr/bin/python3';
const ROOT = new URL('../../../', import.meta.url);
const PYTHON_DIR = fileURLToPath(new URL('python/', ROOT));
const README = readFileSync(new URL('README.md', ROOT), 'utf8');
const SECTION = '## Continue a PyTorch run in JavaScript (and back)';
const START = new URL('python/examples/start_in_torch.py', ROOT);
const BACK = new URL('python/examples/back_in_torch.py', ROOT);
const CONTINUE = new URL('../examples/torch-checkpoint/continue-in-js.mjs', import.meta.url);

const hasTorch = spawnSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
const required = process.env.REQUIRE_TORCH === '1';
if (!hasTorch && !required) {
  console.warn('readme-torch.test.ts skipped: /usr/bin/python3 cannot import torch (apt-get install -y python3-torch).');
}

/**
 * Torch AdamW continues run.safetensors on the gradients the JS snippet uses (0.01·p), 5 steps.
 * Those gradients are small next to the recorded second moments, so StableAdamW's update clipping
 * does not trigger and the two algorithms coincide; then reads from-js.safetensors back.
 */
const TORCH_SIDE = `
import json, sys, torch
from stable_adamw_checkpoint import load_optimizer
def fresh():
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh(), torch.nn.Linear(3, 2))
    return model, torch.optim.AdamW(model.parameters(), lr=0.5, weight_decay=0.5)
def dump(model):
    return {n: p.detach().reshape(-1).tolist() for n, p in model.named_parameters()}
model, optimizer = fresh()
load_optimizer(optimizer, "run.safetensors", layout="torch-adamw", model=model, params=True)
for _ in range(5):
    for p in model.parameters():
        p.grad = 0.01 * p.detach().clone()
    optimizer.step()
back, back_optimizer = fresh()
load_optimizer(back_optimizer, "from-js.safetensors", layout="torch-adamw", model=back, params=True)
json.dump({"torch": dump(model), "loaded": dump(back)}, sys.stdout)
`;

function python(cwd: string, args: string[]): string {
  const result = spawnSync(PYTHON, args, { cwd, encoding: 'utf8', env: { ...process.env, PYTHONPATH: PYTHON_DIR } });
  if (result.status !== 0) throw new Error(`python ${args.join(' ')} failed:\n${result.stderr}`);
  return result.stdout;
}

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('README: Continue a PyTorch run in JavaScript (and back)', () => {
  it('shows the Python and JavaScript snippets verbatim in that section', () => {
    const at = README.indexOf(SECTION);
    expect(at).toBeGreaterThanOrEqual(0);
    const section = README.slice(at, README.indexOf('\n## ', at + SECTION.length));
    for (const file of [START, CONTINUE, BACK]) expect(section).toContain(readFileSync(file, 'utf8').trim());
  });

  it.skipIf(!hasTorch && !required)('torch AdamW → JavaScript → torch AdamW, as the README runs it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stable-adamw-readme-'));
    dirs.push(dir);
    python(dir, [fileURLToPath(START)]);

    const cwd = process.cwd();
    process.chdir(dir);
    let logged: unknown[][];
    try {
      logged = await runExample(() => import(CONTINUE.href));
    } finally {
      process.chdir(cwd);
    }
    const js = (logged[0] as [Record<string, number[]>])[0];

    const { torch, loaded } = JSON.parse(python(dir, ['-c', TORCH_SIDE])) as Record<string, Record<string, number[]>>;
    expect(Object.keys(js)).toEqual(Object.keys(torch ?? {}));
    for (const [name, expected] of Object.entries(torch ?? {})) {
      const actual = js[name] as number[];
      expect(actual).toHaveLength(expected.length);
      expected.forEach((b, k) => {
        // float32 tolerance: |a − b| ≤ 1e-6 + 1e-5·|b|.
        expect(Math.abs((actual[k] as number) - b)).toBeLessThanOrEqual(1e-6 + 1e-5 * Math.abs(b));
      });
      // The params JavaScript saved are the float32 values torch reads back.
      expect(loaded?.[name]).toEqual(actual);
    }

    expect(python(dir, [fileURLToPath(BACK)]).trim()).toBe('step 10 lr 0.01');
  });
});
