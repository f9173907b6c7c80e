// The README examples as a user runs them: each package's examples/*.mjs copied into the scratch
// project that installed the published packages, and run with plain `node`, one process each.
// `*.browser.mjs` examples need WebGL or WebGPU and run in the packages' browser tests instead.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/** Packages the examples import beyond ours and the smoke tests' peers (as the READMEs' install lines say). */
export const EXAMPLE_INSTALL = ['@tensorflow/tfjs-layers@4.22.0'];

/**
 * Copies every package's Node-runnable examples into `app/examples/<package>/` (subfolders too)
 * and returns their paths relative to `app`, sorted.
 */
export function nodeExamples(root, app) {
  const found = [];
  for (const name of readdirSync(join(root, 'packages')).sort()) {
    const from = join(root, 'packages', name, 'examples');
    if (!existsSync(from)) continue;
    const to = join(app, 'examples', name);
    const walk = (dir) => {
      for (const entry of readdirSync(join(from, dir), { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) walk(path);
        else if (entry.name.endsWith('.mjs') && !entry.name.endsWith('.browser.mjs')) {
          mkdirSync(join(to, dir), { recursive: true });
          cpSync(join(from, path), join(to, path));
          found.push(join('examples', name, path));
        }
      }
    };
    walk('');
  }
  return found.sort();
}

/** Anything on stderr that reads as a failure; tfjs's banner about tfjs-node does not. */
const STDERR_ERROR = /\b\w*Error\b|\bERR_[A-Z_]+\b|Unhandled|Warning: /;

const PYTHON = '/usr/bin/python3';

/**
 * The PyTorch round trip (cpu's examples/torch-checkpoint/) continues a run that
 * python/examples/start_in_torch.py saved: write it first, as the root README does. Without torch
 * it is not run (readme-torch.test.ts reports that too), unless REQUIRE_TORCH=1 (CI).
 */
function prepareTorchCheckpoint(root, cwd) {
  const hasTorch = spawnSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
  if (!hasTorch) {
    if (process.env.REQUIRE_TORCH === '1') throw new Error(`${PYTHON} cannot import torch (REQUIRE_TORCH=1)`);
    return false;
  }
  const python = join(root, 'python');
  const result = spawnSync(PYTHON, [join(python, 'examples/start_in_torch.py')], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, PYTHONPATH: python },
  });
  if (result.status !== 0) throw new Error(`start_in_torch.py failed:\n${result.stderr}`);
  return true;
}

/**
 * Runs one example with `node` in its own folder, as `node example.mjs` would, and throws on a
 * non-zero exit, an error on stderr or no output.
 */
export function runExample(root, app, example) {
  const cwd = join(app, example, '..');
  if (example.includes('torch-checkpoint') && !prepareTorchCheckpoint(root, cwd)) {
    console.log(`$ node ${example}: not run (${PYTHON} cannot import torch to write run.safetensors first)`);
    return;
  }
  console.log(`$ node ${example}`);
  const result = spawnSync(process.execPath, [join(app, example)], { cwd, encoding: 'utf8', timeout: 300_000 });
  const stderr = result.stderr ?? '';
  if (result.status !== 0 || STDERR_ERROR.test(stderr) || !result.stdout?.trim()) {
    throw new Error(
      `node ${example} failed (exit ${result.status ?? result.signal}):\n${result.stdout ?? ''}\n${stderr}${result.error ? `\n${result.error.message}` : ''}`,
    );
  }
  process.stdout.write(result.stdout);
}
