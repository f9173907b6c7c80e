/**
 * `@stable-adamw/gpujs/testing`: a core `ConformanceTarget` for each gpu.js mode, usable in Node
 * and in browsers (the parity app and this package's own tests build on it).
 */
export {
  type GpuJsConformanceTarget,
  type GpuJsTargetMode,
  type GpuJsTargetOptions,
  gpujsTarget,
  openGpujsTarget,
} from './gpujs-target.js';
