import { StableAdamW } from '@stable-adamw/cpu';

// Gradients passed in, keyed by param, instead of set on param.grad (params not in the map are skipped).
const weight = { data: new Float32Array([0.5, -0.5]), name: 'weight' };
const bias = { data: new Float32Array([0.1]), name: 'bias' };
const optimizer = new StableAdamW([weight, bias], { lr: 0.1, weightDecay: 0 });

optimizer.step(new Map([[weight, new Float32Array([1, -1])]]));
console.log(weight.data, bias.data); // ≈ [0.4, −0.4], [0.1]: bias had no gradient this step
