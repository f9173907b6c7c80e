import { readFileSync, writeFileSync } from 'node:fs';
import { checkpointToStateDict, stateDictToCheckpoint } from '@stable-adamw/core/adapter';
import { StableAdamW } from '@stable-adamw/cpu';

// The params of the torch model, by the names model.named_parameters() gives them.
const bytes = new Uint8Array(readFileSync('run.safetensors'));
const saved = checkpointToStateDict(bytes, { layout: 'torch-adamw' }).params;
const params = ['0.weight', '0.bias', '2.weight', '2.bias'].map((name) => {
  const stored = saved.get(name);
  if (!stored) throw new Error(`run.safetensors has no params.${name}`);
  const { shape, values } = stored;
  return { name, shape, data: Float32Array.from(values), grad: /** @type {Float32Array | null} */ (null) };
});

// loadCheckpoint restores lr, betas and weight decay, as torch's load_state_dict does, and the
// moments (torch stores them biased; they are converted with the exact bias-correction factors).
const optimizer = new StableAdamW(params, { lr: 1e-3 });
optimizer.loadCheckpoint(bytes, { layout: 'torch-adamw' });

for (let step = 0; step < 5; step++) {
  // Your own backward pass goes here; this one is the gradient of 0.005·Σp².
  for (const p of params) p.grad = p.data.map((w) => 0.01 * w);
  optimizer.step();
}

/** @type {import('@stable-adamw/core/adapter').TensorInfo[][]} */
const groups = [params.map(({ name, shape, data }) => ({ name, shape, dtype: 'float32', numel: data.length }))];
const out = stateDictToCheckpoint(await optimizer.stateDict(), {
  layout: 'torch-adamw',
  groups,
  params: params.map((p) => p.data),
});
writeFileSync('from-js.safetensors', out);
console.log(Object.fromEntries(params.map((p) => [p.name, Array.from(p.data)])));
