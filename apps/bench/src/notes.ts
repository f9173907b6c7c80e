import { paramCount, type Shape } from './shapes.js';

/** How to read the report, written into bench.json, bench.html and the README block. */
export const REPORT_NOTES: readonly string[] = [
  "Bound = the best in-place axpy bandwidth (a[i] += s·b[i], JS or WASM SIMD) measured in this run (best of before and after the Node rows) at the row's thread count — the optimizer's own access pattern: every array it writes it has just read, so no write-allocate traffic; STREAM copy/triad are reported too but count only 3/4 of the bytes the bus moves for triad — ÷ the bytes the algorithm must move per param per step, assuming perfect fusion: StableAdamW fp32 36 B (pass 1 reads g, m, v and writes m, v; pass 2 reads p, m, v and writes p), bf16 22 B (2-byte arrays, bf16 gradients, Kahan buffer read and written in pass 2; 18 B without it), Adam fp32 28 B (one pass: p, g, m, v read, p, m, v written). Composed-op implementations move more than that, which is what their fraction shows.",
  '× scalar = the scalar two-pass JS loop (scalar-js) on the same shape in the same environment ÷ the row (> 1: faster). The cpu goals use the Node rows; Chromium rows share the bandwidth measured in Node (same machine).',
  'The bandwidth is measured before and after the Node rows and the best figure is kept. A row above 100 % of its bound moved data faster than the axpy did when measured: data that stayed in the last-level cache between steps (see the cache note), or other load on the machine during the bandwidth runs; take figures on a quiet machine.',
  "Chromium's WebGL2 and WebGPU run on SwiftShader, a CPU emulation of a GPU: those rows show the paths run and their dispatch counts, not GPU speed. Every GPU subject runs the large, small and llm shapes; a shape the device cannot hold is skipped with the adapter's reason (device limit).",
  'Dispatches per step: WebGPU GPUComputePassEncoder.dispatchWorkgroups calls (with GPUQueue.submit calls), WebGL draw calls (each tfjs program, and each draw of the StableAdamW programs) or gpu.js kernel launches (opt.stats), counted around the optimizer call of each timed step (the one-element readback that waits for the step is not counted); median over the timed steps. tfjs and gpu.js rows name the kernel path that ran (StableAdamW.kernelPath).',
  "tfjs peers: tf.train.adam, and the AdamW tfjs users write for lack of one (tf.train.adam, then a decoupled weight-decay assign v ← v·(1 − lr·wd) per variable, as in epfml/disco). Ours ÷ peer = the peer's step time ÷ ours on the same backend and shape (> 1: ours is faster). AdamW's bound counts 28 B/param (its decay fused into the Adam pass).",
  'gpu.js cpu and webasm modes interpret the kernels on the host and run only up to the 4M small shape; tfjs has no 16-bit float dtype (n/a); the 64M target shape runs on the typed-array subjects only.',
  "native-c: the cpu adapter's fused two-pass float32 StableAdamW written in C (apps/bench/native/stable_adamw.c: float32 lanes, float64 RMS partials per 16384-element block, η in float64), built in the run with the system compiler at -O3 with OpenMP, 128-bit SIMD (-msse4.2 -mno-avx on x86) or -march=native, timed by the child process itself. Issue #17's goals are ratios of params/s from the same run: cpu-wasm ÷ native-c-128 ≥ 0.9 (64M fp32, 1 and 2 threads); cpu-wasm bf16 and f16 ÷ fp32 ≥ 1.0 (llm shape, same threads); cpu-js ÷ scalar-js ≥ 1.0 (fp32, 64M) and ≥ 0.3 (bf16 on the 4M small shape, the largest the JS bf16 kernel runs). 'of bound' keeps the row's fraction of the memory bound (the baseline's after ÷).",
  'Checkpoints: saveCheckpoint/loadCheckpoint (safetensors, optimi layout, cpu adapter, 8 float32 tensors) against Uint8Array.set of the same bytes (into an array already in memory: the memory-copy bound) and the JSON path (JSON.stringify(stateDict()), loadStateDict(JSON.parse(…))) at a smaller size (its text is ~40 B per param; V8 strings stop at 2^29 characters), with safetensors and the copy at that size beside it. MB/s count the state bytes (exp_avg and exp_avg_sq, 8 B per param).',
  "Peak memory: Node RSS is process-wide (earlier rows' garbage may still be counted); tfjs figures are tf.memory(), gpu.js the optimizer's device tensors and kernels; Chromium's heap is performance.memory.",
];

/**
 * Which shapes' fp32 arrays (param, gradient, two moments: 16 B per param) fit in the last-level
 * cache: those can stay cache-resident between steps and beat the DRAM bound.
 */
export function cacheNote(shapes: readonly Shape[], cacheBytes: number | undefined): string[] {
  if (cacheBytes === undefined) return [];
  const mib = (b: number) => `${Math.round(b / 2 ** 20)} MiB`;
  const fits = shapes.filter((s) => paramCount(s) * 16 <= cacheBytes).map((s) => `${s.name} (${mib(paramCount(s) * 16)})`);
  const text =
    fits.length > 0
      ? `the fp32 arrays of ${fits.join(', ')} fit in it, so those rows can run partly from cache, above the DRAM bound`
      : 'no shape fits in it';
  return [`This machine's last-level cache is ${mib(cacheBytes)} (bandwidth arrays are sized at twice that): ${text}.`];
}
