/** How to read the report, written into bench.json, bench.html and the README block. */
export const REPORT_NOTES: readonly string[] = [
  "Bound = best STREAM triad bandwidth measured in this run at the row's thread count (JS or WASM SIMD) ÷ the bytes the algorithm must move per param per step, assuming perfect fusion: StableAdamW fp32 36 B (pass 1 reads g, m, v and writes m, v; pass 2 reads p, m, v and writes p), bf16 22 B (2-byte arrays, bf16 gradients, Kahan buffer read and written in pass 2; 18 B without it), Adam fp32 28 B (one pass: p, g, m, v read, p, m, v written). Composed-op implementations move more than that, which is what their fraction shows.",
  '× scalar = the scalar two-pass JS loop (scalar-js) on the same shape in the same environment ÷ the row (> 1: faster). The cpu goals use the Node rows.',
  "Chromium's WebGL2 and WebGPU run on SwiftShader, a CPU emulation of a GPU: those rows show the paths run, not GPU speed, and run only the 4M small shape.",
  'gpu.js cpu and webasm modes interpret the kernels on the host and run only up to the 4M small shape; tfjs has no bfloat16 (n/a); the 64M target shape runs on the typed-array subjects only.',
  "Peak memory: Node RSS is process-wide (earlier rows' garbage may still be counted); tfjs figures are tf.memory(), gpu.js the optimizer's device tensors and kernels; Chromium's heap is performance.memory.",
];
