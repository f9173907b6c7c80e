/**
 * `@stable-adamw/tfjs/testing`: a core `ConformanceTarget` for the active tfjs backend, usable in
 * Node and browsers (this package's tests and the parity app build on it).
 */
export { tfjsTarget } from './tfjs-target.js';
