import { StableAdamW } from '@stable-adamw/cpu';

// Gradient release: step each param as soon as its gradient is ready (e.g. inside your backward
// pass, last layer first), so all gradients never have to be alive at once.
const layers = [
  { data: new Float32Array(64).fill(0.1), grad: null, name: 'layer0.weight', shape: [8, 8] },
  { data: new Float32Array(8).fill(0.1), grad: null, name: 'layer1.weight', shape: [8] },
];
const optimizer = new StableAdamW(layers, { lr: 1e-3, gradientRelease: true });

const microBatches = 4;
for (let call = 0; call < 8; call++) {
  // Optimizer accumulation: moment-only calls for the first 3 micro-batches, a full update on the 4th.
  optimizer.accumulate = (call + 1) % microBatches !== 0;
  for (const layer of [...layers].reverse()) {
    const grad = new Float32Array(layer.data.length).fill(0.01 * (call + 1)); // your backward pass
    optimizer.stepParam(layer, grad); // updates the moments (and the param on full steps), drops layer.grad
  }
}
const state = await optimizer.stateDict();
console.log(state.state[0].step); // 8: one per call, per parameter
