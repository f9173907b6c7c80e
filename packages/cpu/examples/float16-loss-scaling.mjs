import { DynamicLossScaler, float16ToNumber, numberToFloat16, StableAdamW } from '@stable-adamw/cpu';

// float16 training whose backward pass overflows: the output gradients of a heavily weighted loss
// (≈ 1e5) exceed float16's 65504 and become Inf, although the weight gradients (≤ 160) fit.
// Unscaled, the Inf reaches the params (NaN for good); skipping alone would skip every step. A
// DynamicLossScaler scales the loss down until the backward pass fits; the optimizer skips each
// overflowing step and divides the gradients by the scale inside its kernels.
const truth = [0.5, -0.25, 0.75, -1];
const xs = Array.from({ length: 16 }, (_, i) => truth.map((_, j) => 1e-4 * Math.sin(7.3 * i * (j + 1))));

/** @param {DynamicLossScaler} [lossScaler] */
function train(lossScaler) {
  /** @type {import('@stable-adamw/cpu').CpuParam & { data: Uint16Array }} */
  const w = { data: new Uint16Array(4), dtype: 'float16', grad: null };
  const optimizer = new StableAdamW([w], { lr: 0.01, weightDecay: 0, lossScaler });
  for (let step = 0; step < 300; step++) {
    const scale = lossScaler?.scale ?? 1;
    // Your float16 backward pass of loss · scale, with loss = 5e8 · Σ (x·w − x·truth)².
    const grad = [0, 0, 0, 0];
    for (const x of xs) {
      const error = x.reduce((sum, xj, j) => sum + xj * (float16ToNumber(w.data[j]) - truth[j]), 0);
      const dy = float16ToNumber(numberToFloat16(1e9 * error * scale));
      x.forEach((xj, j) => {
        grad[j] += xj * dy;
      });
    }
    w.grad = Uint16Array.from(grad, numberToFloat16);
    optimizer.step();
  }
  return { w: Array.from(w.data, float16ToNumber), skipped: optimizer.skippedSteps };
}

const scaler = new DynamicLossScaler();
console.log(train(), train(scaler), scaler.scale); // w NaN; w ≈ truth after 18 skipped steps; scale 0.25
