// What the release test installs and runs in a fresh project, per published adapter: an ESM
// import, a CJS require and a TypeScript check, each doing one optimizer step.

/** @type {Record<string, { install: string[], esm: string, cjs: string, ts: string }>} */
export const SMOKE = {
  '@stable-adamw/cpu': {
    install: [],
    esm: `import { StableAdamW } from '@stable-adamw/cpu';
const p = { data: new Float32Array([1, 2]), grad: new Float32Array([0.5, -0.5]) };
new StableAdamW([p], { lr: 0.1, weightDecay: 0 }).step();
if (!(Math.abs(p.data[0] - 0.9) < 1e-5 && Math.abs(p.data[1] - 2.1) < 1e-5)) throw new Error('cpu ESM step: ' + p.data);
console.log('cpu esm ok');`,
    cjs: `const { StableAdamW } = require('@stable-adamw/cpu');
const p = { data: new Float32Array([1]), grad: new Float32Array([1]) };
new StableAdamW([p], { lr: 0.1, weightDecay: 0 }).step();
if (!(Math.abs(p.data[0] - 0.9) < 1e-5)) throw new Error('cpu CJS step: ' + p.data);
console.log('cpu cjs ok');`,
    ts: `import { StableAdamW, type CpuParam, type StateDict } from '@stable-adamw/cpu';
const p: CpuParam = { data: new Float32Array([1]), grad: new Float32Array([1]) };
const opt = new StableAdamW([p], { lr: 0.1 });
opt.step();
const sd: StateDict = opt.stateDict();
export const step: number = sd.param_groups[0]?.step ?? 0;`,
  },
};
