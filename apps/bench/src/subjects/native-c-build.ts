import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Builds native/stable_adamw.c with the system C compiler, once per variant and source, into the
 * git-ignored native-cache/ of the bench app (dist is rebuilt; the cache survives it).
 */

/** `128`: 128-bit SIMD only (x86: `-msse4.2 -mno-avx`; other architectures: their baseline, e.g. NEON). `native`: `-march=native`. */
export type NativeVariant = '128' | 'native';

export interface NativeBuild {
  binary: string;
  /** The compiler's first `--version` line, e.g. `gcc (Debian 12.2.0-14) 12.2.0`. */
  compiler: string;
  /** The command's flags, as run. */
  flags: string[];
}

const SOURCE = join('native', 'stable_adamw.c');

/**
 * Flags of a variant on `arch` (Node's `process.arch`). `-fno-math-errno` lets `sqrtf` be the
 * vector instruction (WebAssembly's `f32x4.sqrt` has no errno either); it changes no result.
 */
export function variantFlags(variant: NativeVariant, arch: string): string[] {
  const width = variant === 'native' ? ['-march=native'] : arch === 'x64' || arch === 'ia32' ? ['-msse4.2', '-mno-avx'] : [];
  return ['-O3', '-std=c11', '-fopenmp', '-fno-math-errno', ...width];
}

/** The bench app's folder: the nearest one above this module holding native/stable_adamw.c (src or dist). */
export function benchRoot(from = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, SOURCE))) return dir;
    if (dirname(dir) === dir) throw new Error(`native-c: ${SOURCE} not found above ${from}`);
  }
}

/** The first of `$CC`, `cc`, `gcc` that runs, with its version line; undefined when none does. */
export function findCompiler(): { command: string; version: string } | undefined {
  const candidates = [process.env.CC, 'cc', 'gcc'].filter((c): c is string => Boolean(c));
  for (const command of candidates) {
    const run = spawnSync(command, ['--version'], { encoding: 'utf8' });
    if (run.status === 0) return { command, version: run.stdout.split('\n')[0]?.trim() || command };
  }
  return undefined;
}

const builds = new Map<NativeVariant, Promise<NativeBuild>>();

/**
 * The compiled program of `variant`, built on first use (reused across subjects and runs while the
 * source, compiler and flags are unchanged); rejects with the reason when there is no compiler or
 * the build fails (the subject's rows are then skipped with it).
 */
export function buildNative(variant: NativeVariant): Promise<NativeBuild> {
  let build = builds.get(variant);
  if (!build) {
    build = Promise.resolve().then(() => compile(variant));
    builds.set(variant, build);
  }
  return build;
}

function compile(variant: NativeVariant): NativeBuild {
  const compiler = findCompiler();
  if (!compiler) throw new Error('no C compiler found ($CC, cc, gcc)');
  const root = benchRoot();
  const source = join(root, SOURCE);
  const flags = variantFlags(variant, process.arch);
  const key = createHash('sha256')
    .update(readFileSync(source))
    .update(`\0${compiler.command}\0${compiler.version}\0${flags.join(' ')}`)
    .digest('hex')
    .slice(0, 16);
  const cache = resolve(root, 'native-cache');
  const binary = join(cache, `stable_adamw-${variant}-${key}`);
  if (existsSync(binary)) return { binary, compiler: compiler.version, flags };
  mkdirSync(cache, { recursive: true });
  // Built under a temporary name and renamed: a concurrent run never executes half a file.
  const partial = `${binary}.${process.pid}.tmp`;
  const run = spawnSync(compiler.command, [...flags, '-o', partial, source, '-lm'], { encoding: 'utf8' });
  if (run.status !== 0) {
    rmSync(partial, { force: true });
    const output = `${run.error?.message ?? ''}${run.stderr}`.trim().split('\n').slice(0, 3).join(' ');
    throw new Error(`${compiler.command} ${flags.join(' ')} failed: ${output}`);
  }
  renameSync(partial, binary);
  // Builds of an older source or compiler are not used again.
  for (const name of readdirSync(cache)) {
    if (name.startsWith(`stable_adamw-${variant}-`) && !name.endsWith('.tmp') && join(cache, name) !== binary) {
      rmSync(join(cache, name), { force: true });
    }
  }
  return { binary, compiler: compiler.version, flags };
}
