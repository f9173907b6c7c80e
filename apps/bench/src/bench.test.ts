import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { runBench } from './bench.js';
import type { BenchReport } from './report.js';

describe('runBench --quick (Node only)', () => {
  const initCwd = process.env.INIT_CWD;
  afterEach(() => {
    process.env.INIT_CWD = initCwd;
    vi.restoreAllMocks();
  });

  it('measures cpu, native-c, tfjs-cpu and checkpoints end to end, writes a valid report and the README block', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bench-'));
    writeFileSync(join(dir, 'README.md'), '# r\n<!-- bench-table:start -->\n<!-- bench-table:end -->\n');
    process.env.INIT_CWD = dir;
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const code = await runBench([
      '--quick',
      '--no-browser',
      '--backend',
      'scalar-js,cpu,native-c,tfjs-cpu,checkpoint',
      '--update-readme',
    ]);
    expect(code).toBe(0);
    const report = JSON.parse(readFileSync(join(dir, 'bench-report/bench.json'), 'utf8')) as BenchReport;
    expect(report.machine.cores).toBeGreaterThan(0);
    expect(report.bandwidth.map((b) => `${b.op}/${b.threads}`)).toContain('wasm-axpy/2');
    const ok = report.rows.filter((r) => r.status === 'ok');
    // The tfjs adapter picks its cpu kernel path itself; a composed row runs only where 'auto' is not composed already.
    const tfjsPath = ok.find((r) => r.subject === 'tfjs-cpu')?.kernelPath;
    const composedRuns = tfjsPath !== 'composed';
    // scalar-js and each native-c build: 4 shapes fp32; cpu-js: 4 fp32 + 3 bf16 (target is fp32 only);
    // cpu-wasm: 3 f16 more; tfjs-cpu 'auto', adam and adamw: 3 shapes each. (CI has gcc: native-c runs.)
    expect(ok.map((r) => r.subject).sort()).toEqual(
      [
        ...Array(4).fill('scalar-js'),
        ...Array(7).fill('cpu-js'),
        ...Array(10).fill('cpu-wasm'),
        ...Array(10).fill('cpu-wasm-2t'),
        ...['native-c-128', 'native-c-128-2t', 'native-c-native', 'native-c-native-2t'].flatMap((s) => Array(4).fill(s)),
        ...Array(3).fill('tfjs-cpu'),
        ...Array(3).fill('tfjs-cpu-adam'),
        ...Array(3).fill('tfjs-cpu-adamw'),
        ...Array(composedRuns ? 3 : 0).fill('tfjs-cpu-composed'),
      ].sort(),
    );
    for (const r of ok) {
      expect(r.timing?.steps).toBe(3);
      expect(r.paramsPerSec).toBeGreaterThan(0);
      expect(r.fractionOfBound).toBeGreaterThan(0);
      expect(r.vsScalar).toBeGreaterThan(0);
    }
    // tfjs rows free every tensor they made; the composed row is skipped with its reason where 'auto' is composed.
    for (const r of ok.filter((r) => r.backend === 'tfjs-cpu')) expect(r.leakedTensors).toBe(0);
    if (!composedRuns) {
      expect(report.rows.find((r) => r.subject === 'tfjs-cpu-composed')?.reason).toMatch(/already runs the composed ops/);
    }
    expect(report.rows.find((r) => r.subject === 'tfjs-cpu' && r.dtype === 'bfloat16')?.reason).toBe(
      'n/a: tfjs has no 16-bit float dtype',
    );
    // The goals are measured on the WASM kernel, on 1 and 2 threads (issue #17's as ratios to native-c-128,
    // to float32, to scalar-js); 2-thread rows use the 2-thread bound.
    expect(
      report.cpuTargets.map((t) => `${t.subject}${t.baseline ? ` ÷ ${t.baseline.subject} ${t.baseline.dtype}` : ''}`),
    ).toEqual([
      'cpu-wasm',
      'cpu-wasm-2t',
      'cpu-wasm',
      'cpu-wasm ÷ native-c-128 float32',
      'cpu-wasm-2t ÷ native-c-128-2t float32',
      'cpu-wasm ÷ cpu-wasm float32',
      'cpu-wasm-2t ÷ cpu-wasm-2t float32',
      'cpu-wasm ÷ cpu-wasm float32',
      'cpu-wasm-2t ÷ cpu-wasm-2t float32',
      'cpu-js ÷ scalar-js float32',
      'cpu-js ÷ scalar-js float32',
    ]);
    // --quick's tiny shapes judge no goal.
    expect(report.cpuTargets.map((t) => t.result)).toEqual(Array(11).fill('not measured (quick)'));
    // native-c names what ran: compiler, flags, vector extension, threads.
    expect(ok.find((r) => r.subject === 'native-c-128-2t')?.detail).toMatch(
      /-O3 .*-fopenmp.*, (sse4\.2|baseline|neon), 2 threads$/,
    );
    // Checkpoints at --quick's size: copy, safetensors at 256k and 64k, JSON at 64k.
    expect(report.checkpoint.map((c) => `${c.op}/${c.params}`)).toEqual([
      'copy/262144',
      'safetensors-save/262144',
      'safetensors-load/262144',
      'copy/65536',
      'safetensors-save/65536',
      'safetensors-load/65536',
      'json-save/65536',
      'json-load/65536',
    ]);
    // The peers side by side on each shape, with the path that ran; no GPU, nothing to count.
    expect(report.peers.map((p) => `${p.backend}/${p.shape}/${p.kernelPath}`)).toEqual(
      ['large', 'small', 'llm'].map((shape) => `tfjs-cpu/${shape}/${tfjsPath}`),
    );
    for (const p of report.peers) {
      expect(p.vsAdam).toBeGreaterThan(0);
      expect(p.vsAdamW).toBeGreaterThan(0);
      expect(p.dispatchesPerStep).toBeNull();
    }
    for (const r of report.rows) expect(r.dispatchesPerStep).toBeNull();
    const twoThreads = ok.find((r) => r.subject === 'cpu-wasm-2t');
    expect(twoThreads?.boundGBps).toBe(
      Math.max(...report.bandwidth.filter((b) => b.threads === 2 && b.op.endsWith('axpy')).map((b) => b.gbPerSec)),
    );
    expect(twoThreads?.detail).toBe('wasm-simd kernel, 2 threads');
    expect(readFileSync(join(dir, 'bench-report/bench.html'), 'utf8')).toContain('<svg');
    expect(readFileSync(join(dir, 'bench-report/.gitignore'), 'utf8')).toBe('*\n');
    const readme = readFileSync(join(dir, 'README.md'), 'utf8');
    expect(readme).toContain('| node | cpu-js | bfloat16 |');
    expect(readme).toContain('| node | native-c-128 | float32 |');
    expect(readme).toMatch(/\| saveCheckpoint \(safetensors\) \| 256k \|/);
    const printed = log.mock.calls.flat().join('\n');
    expect(printed).toMatch(/cpu goal/);
    expect(printed).toMatch(/not measured \(quick\)/);
    expect(printed).not.toMatch(/not met/);
    expect(printed).toMatch(/ours ÷ adam\s+ours ÷ adamw/);
  });

  it('rejects unknown subjects and shapes', async () => {
    await expect(runBench(['--backend', 'nope'])).rejects.toThrow(/Unknown --backend nope/);
    await expect(runBench(['--shape', 'huge'])).rejects.toThrow(/Unknown --shape huge/);
  });
});
