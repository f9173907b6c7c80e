export { cpuBufferTarget } from './buffer-target.js';
export { cpuTarget, type Float16Storage } from './cpu-target.js';
