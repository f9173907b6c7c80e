/**
 * `@stable-adamw/tfjs/testing`: a `ConformanceTarget` for the active tfjs backend, usable in Node
 * and browsers (this package's tests and the parity app build on it), and the kernel resolution
 * the benchmark app reports.
 */
export { type KernelChoice, resolveKernel } from '../kernels/resolve-kernel.js';
export { tfjsTarget } from './tfjs-target.js';
