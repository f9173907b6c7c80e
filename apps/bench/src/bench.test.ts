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

  it('measures cpu and tfjs-cpu end to end, writes a valid report and the README block', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bench-'));
    writeFileSync(join(dir, 'README.md'), '# r\n<!-- bench-table:start -->\n<!-- bench-table:end -->\n');
    process.env.INIT_CWD = dir;
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const code = await runBench(['--quick', '--no-browser', '--backend', 'scalar-js,cpu,tfjs-cpu', '--update-readme']);
    expect(code).toBe(0);
    const report = JSON.parse(readFileSync(join(dir, 'bench-report/bench.json'), 'utf8')) as BenchReport;
    expect(report.machine.cores).toBeGreaterThan(0);
    expect(report.bandwidth.map((b) => `${b.op}/${b.threads}`)).toContain('wasm-axpy/2');
    const ok = report.rows.filter((r) => r.status === 'ok');
    // scalar-js: 4 shapes fp32; each cpu subject: 4 fp32 + 3 bf16 (target is fp32 only); tfjs-cpu 'auto', adam and adamw: 3 shapes each.
    expect(ok.map((r) => r.subject).sort()).toEqual(
      [
        ...Array(4).fill('scalar-js'),
        ...Array(7).fill('cpu-js'),
        ...Array(7).fill('cpu-wasm'),
        ...Array(7).fill('cpu-wasm-2t'),
        ...Array(3).fill('tfjs-cpu'),
        ...Array(3).fill('tfjs-cpu-adam'),
        ...Array(3).fill('tfjs-cpu-adamw'),
      ].sort(),
    );
    for (const r of ok) {
      expect(r.timing?.steps).toBe(3);
      expect(r.paramsPerSec).toBeGreaterThan(0);
      expect(r.fractionOfBound).toBeGreaterThan(0);
      expect(r.vsScalar).toBeGreaterThan(0);
    }
    // tfjs rows free every tensor they made; the composed row is skipped with its reason on cpu.
    for (const r of ok.filter((r) => r.backend === 'tfjs-cpu')) expect(r.leakedTensors).toBe(0);
    expect(report.rows.find((r) => r.subject === 'tfjs-cpu-composed')?.reason).toMatch(/already runs the composed ops/);
    expect(report.rows.find((r) => r.subject === 'tfjs-cpu' && r.dtype === 'bfloat16')?.reason).toBe('n/a: tfjs has no bfloat16');
    // The goals are measured on the WASM kernel, on 1 and 2 threads; 2-thread rows use the 2-thread bound.
    expect(report.cpuTargets.map((t) => t.subject)).toEqual(['cpu-wasm', 'cpu-wasm-2t', 'cpu-wasm']);
    // --quick's tiny shapes judge no goal.
    expect(report.cpuTargets.map((t) => t.result)).toEqual(Array(3).fill('not measured (quick)'));
    // The peers side by side on each shape: the composed path ran (no fused kernels on tfjs-cpu), nothing to count.
    expect(report.peers.map((p) => `${p.backend}/${p.shape}/${p.kernelPath}`)).toEqual([
      'tfjs-cpu/large/composed',
      'tfjs-cpu/small/composed',
      'tfjs-cpu/llm/composed',
    ]);
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
    expect(readFileSync(join(dir, 'README.md'), 'utf8')).toContain('| node | cpu-js | bfloat16 |');
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
