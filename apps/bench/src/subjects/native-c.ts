import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { buildNative, type NativeBuild, type NativeVariant } from './native-c-build.js';
import { parseReady, parseStepMs } from './native-c-protocol.js';
import type { BenchSubject, Stepper } from './subject.js';

/**
 * The C program in `bench` mode as a child process: one line written per step, one line read back
 * with the step's own time. Rejects every pending read when the program exits or fails.
 */
class NativeProcess {
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #lines: string[] = [];
  readonly #waiting: { resolve(line: string): void; reject(error: Error): void }[] = [];
  readonly #exited: Promise<void>;
  #stderr = '';
  #failure: Error | undefined;

  constructor(binary: string, threads: number, sizes: readonly number[]) {
    this.#child = spawn(binary, ['bench', String(threads), sizes.join(',')], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.#child.stderr.on('data', (chunk: Buffer) => {
      this.#stderr = (this.#stderr + chunk.toString()).slice(-2000);
    });
    createInterface({ input: this.#child.stdout }).on('line', (line) => {
      const next = this.#waiting.shift();
      if (next) next.resolve(line);
      else this.#lines.push(line);
    });
    // Writing to a program that has exited: the exit handler below reports why.
    this.#child.stdin.on('error', () => undefined);
    this.#exited = new Promise((resolve) => {
      const fail = (why: string) => {
        this.#failure ??= new Error(`native-c: the program ${why}${this.#stderr ? `: ${this.#stderr.trim()}` : ''}`);
        for (const w of this.#waiting.splice(0)) w.reject(this.#failure);
        resolve();
      };
      this.#child.on('error', (error) => fail(`could not run (${error.message})`));
      this.#child.on('close', (code, signal) => fail(signal ? `was killed by ${signal}` : `exited with code ${code}`));
    });
  }

  /** The next line the program prints. */
  read(): Promise<string> {
    const line = this.#lines.shift();
    if (line !== undefined) return Promise.resolve(line);
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => this.#waiting.push({ resolve, reject }));
  }

  send(command: string): void {
    this.#child.stdin.write(`${command}\n`);
  }

  /** Asks the program to quit and waits for it (killed if it does not within 10 s). */
  async close(): Promise<void> {
    this.#child.stdin.end('quit\n');
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), 10_000);
    await this.#exited;
    clearTimeout(timer);
  }
}

function widthWords(variant: NativeVariant): string {
  return variant === '128' ? '128-bit SIMD (x86: -msse4.2 -mno-avx)' : '-march=native';
}

/**
 * The same fused two-pass StableAdamW as the cpu adapter's float32 WebAssembly kernel, in C
 * (native/stable_adamw.c), built with the system compiler at `-O3` for 128-bit SIMD or
 * `-march=native`, on `threads` OpenMP threads: the native anchor the cpu-wasm goals are ratios to.
 * Skipped with the reason when no compiler is found or the build fails.
 */
export function nativeCSubject(variant: NativeVariant, threads: number): BenchSubject {
  let build: NativeBuild | undefined;
  return {
    id: `native-c-${variant}${threads === 1 ? '' : `-${threads}t`}`,
    backend: 'native',
    implementation: `C two-pass kernel, ${widthWords(variant)}, OpenMP${threads === 1 ? '' : `, ${threads} threads`}`,
    algorithm: 'stable-adamw',
    threads,
    dtypes: ['float32'],
    dtypeNote: 'the C kernel is float32 only',
    cpuShapes: true,
    async prepare() {
      build = await buildNative(variant);
    },
    async open(sizes) {
      if (!build) throw new Error('native-c: prepare() did not build the program');
      const child = new NativeProcess(build.binary, threads, sizes);
      try {
        const ready = parseReady(await child.read());
        const params = sizes.reduce((n, s) => n + s, 0);
        if (ready.params !== params) throw new Error(`native-c: the program holds ${ready.params} params, not ${params}`);
        // What ran must be what was asked for (OpenMP may give fewer threads).
        if (ready.threads !== threads) throw new Error(`native-c: OpenMP ran ${ready.threads} threads, not ${threads}`);
        let last: number | undefined;
        const { compiler, flags } = build;
        const stepper: Stepper = {
          detail: `${compiler} ${flags.join(' ')}, ${ready.isa}, ${threads} thread${threads > 1 ? 's' : ''}`,
          async step() {
            child.send('step');
            last = parseStepMs(await child.read());
          },
          lastStepMs: () => last,
          memory: () => ({}),
          close: async () => {
            await child.close();
            return {};
          },
        };
        return stepper;
      } catch (error) {
        await child.close();
        throw error;
      }
    },
  };
}

/** Both variants on 1 and 2 threads. */
export function nativeCSubjects(): BenchSubject[] {
  return [nativeCSubject('128', 1), nativeCSubject('128', 2), nativeCSubject('native', 1), nativeCSubject('native', 2)];
}
