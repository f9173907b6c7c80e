export { cpuTarget, type Float16Storage } from './cpu-target.js';
