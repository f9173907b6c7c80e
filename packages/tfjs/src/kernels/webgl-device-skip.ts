import { DeviceError, StableAdamWError } from '@stable-adamw/core';
import type { CounterValues } from '@stable-adamw/core/adapter';
import * as tf from '@tensorflow/tfjs-core';
import { type CounterEngine, type DeviceCounts, type DeviceStepPlan, frexp, type ScalerSettings } from './device-skip.js';
import {
  program,
  type ReduceMode,
  type Reduction,
  run,
  sumRatio,
  UPDATE_UNIFORMS,
  unpackedOnce,
  updateCode,
  updateScalars,
} from './webgl-kernel.js';

/**
 * `nonFinite: 'skip'` (and a `lossScaler`) on tfjs-webgl's fused programs (WebGL2), decided on the
 * device with nothing read back synchronously: the device side of `DeviceSkip` (`device-skip.ts`).
 *
 * The counters are a float32 tensor (`COUNTERS`), a new one per step: 8 values (clean steps,
 * skipped steps, last step skipped, growth tracker, the scale as significand, exponent and
 * float32, and "a stepParam was skipped since the last whole step"), then under gradient release
 * each variable's clean `stepParam` calls since the epoch began. A step's programs, in order:
 * 1. per tensor, the RMS sum as in `webgl-kernel.ts` but before the moments: g²/max(v′, ε²) with
 *    v′ computed from g and the old v (written by nobody), the debiased betas looked up in the
 *    step's table at the device's clean count. A raw gradient of a 'skip' tensor that is NaN or
 *    ±Inf (an explicit exponent-bits test: a finite g can overflow g² and make the sum NaN too)
 *    turns its block's partial into −1, and every later pass of the sum passes a −1 on. The pass
 *    that leaves one value also reads the previous tensor's total, so the last tensor's total is
 *    −1 exactly when any gradient of the step was non-finite: a flag chained through passes that
 *    run anyway, not a program of its own;
 * 2. one counters program: the next counters from the old ones and the flag (GradScaler's rules);
 * 3. per tensor, m′, v′ and θ′ (one program each, as on the plain path), each leaving its old
 *    value where the flag is set.
 * So a step runs the plain path's programs plus one, and the read-back's decode program (tfjs
 * decodes a texture before downloading it): constant in the tensor count.
 *
 * Gradient release's `stepParam` runs the same programs on its one variable (`plan.param`; no θ′
 * for a moment-only call): its betas row is indexed by the variable's own count, and the counters
 * program counts the call (the variable's count) or the skip (skipped steps, last step skipped,
 * and "skipped since the last step", which the next whole step reports as an overflow to the
 * scaler and clears, as core's `#endStep` does).
 *
 * The new counters are read back with `tensor.data()`, which on WebGL2 waits for a fence by polling
 * (no blocking readback); the tensor is freed when the next step replaces it (tfjs defers that
 * until a pending read is done). A loss scaler's scale for the next loss is a view of the counters.
 * Counts are float32: exact up to 2^24 steps per epoch.
 */

/** Where each value sits in the counters tensor. */
const CLEAN = 0;
const SKIPPED = 1;
const LAST_SKIPPED = 2;
const TRACKER = 3;
const FRACT = 4;
const EXP = 5;
const SCALE = 6;
const SINCE = 7;
/** The counters before the variables' clean-call counts (gradient release), which follow them. */
const COUNTER_VALUES = 8;

/** A sum flagged non-finite (sums of g²/max(v′, ε²) are ≥ 0 or NaN otherwise). */
const FLAGGED = (x: string) => `${x} < -0.5`;

/** GLSL of the passes that read the counters (`c`) and the betas table. */
const COUNTER_READS = `float pow2(int e) {
  return uintBitsToFloat(uint(clamp(e, -126, 127) + 127) << 23);
}

// 1 / the step's loss scale (fract · 2^exp) as two exact powers of two and 1 / fract: a float32
// 1 / scale is subnormal for scale ≥ 2^127, and GPUs flush it to zero.
vec3 unscaleOf() {
  if (scaler == 0) {
    return vec3(1.0);
  }
  int e = int(getC(${EXP}));
  int h = int(floor(float(-e) * 0.5));
  return vec3(pow2(h), pow2(-e - h), 1.0 / getC(${FRACT}));
}

float unscaled(float raw, vec3 u) {
  return ((raw * u.x) * u.y) * u.z;
}

// (1 − β̂1, β̂2, 1 − β̂2) of this tensor's group at the device's step; for a stepParam (param > 0),
// at the variable's own count before the call.
vec3 betasOf() {
  int count = int(getC(param > 0 ? ${COUNTER_VALUES} + param - 1 : ${CLEAN}));
  int row = min(count - rowBase, rows - 1);
  int at = (group * rows + row) * 3;
  return vec3(getTable(at), getTable(at + 1), getTable(at + 2));
}

bool nonFinite(float x) {
  return (floatBitsToUint(x) & 0x7f800000u) == 0x7f800000u;
}
`;

const COUNTER_INTS = ['scaler', 'group', 'rows', 'rowBase', 'param'];

const unused = (): string => {
  throw new Error('not a pass of this mode');
};

const RATIO: ReduceMode = {
  inputs: ['c', 'table', 'prev'],
  floats: [],
  ints: [...COUNTER_INTS, 'checked'],
  prelude: COUNTER_READS,
  head: `vec3 u = unscaleOf();
  vec3 b = betasOf();
  bool bad = ${FLAGGED('getPrev()')};`,
  ratio: (g, v) => `float raw = ${g};
        bad = bad || (checked != 0 && nonFinite(raw));
        float gi = unscaled(raw, u);
        float vi = ${v} * b.y + b.z * (gi * gi);
        run += (gi * gi) / max(vi, epsSq);`,
  partial: unused,
  out: 'bad ? -1.0 : total',
};

const PARTIAL: ReduceMode = {
  inputs: ['prev'],
  floats: [],
  ints: [],
  prelude: '',
  head: `bool bad = ${FLAGGED('getPrev()')};`,
  ratio: unused,
  partial: (x) => `float xi = ${x};
        bad = bad || ${FLAGGED('xi')};
        run += xi;`,
  out: 'bad ? -1.0 : total',
};

// The moments as on the plain path (the same expressions as RATIO's v′), or the old ones when flagged.
const FIRST_MOMENT = `${COUNTER_READS}
void main() {
  float m = getMAtOutCoords();
  if (${FLAGGED('getFlag()')}) {
    setOutput(m);
    return;
  }
  vec3 b = betasOf();
  float g = unscaled(getGAtOutCoords(), unscaleOf());
  setOutput(m + b.x * (g - m));
}`;

const SECOND_MOMENT = `${COUNTER_READS}
void main() {
  float v = getVAtOutCoords();
  if (${FLAGGED('getFlag()')}) {
    setOutput(v);
    return;
  }
  vec3 b = betasOf();
  float g = unscaled(getGAtOutCoords(), unscaleOf());
  setOutput(v * b.y + b.z * (g * g));
}`;

const UPDATE = updateCode('getS()', FLAGGED('getFlag()'));

/** The counters after the step (GradScaler's rules, the scale as significand and exponent so that it backs off from beyond float32's range as the host's float64 does). */
const COUNTERS = `float pow2(int e) {
  return uintBitsToFloat(uint(clamp(e, -126, 127) + 127) << 23);
}

// f · 2^e times factor, renormalised to f in [0.5, 1) (by powers of two: exact).
void times(inout float f, inout int e, float factor) {
  f *= factor;
  for (int k = 0; k < 64; k++) {
    if (f >= 1.0) {
      f *= 0.5;
      e++;
    } else if (f < 0.5) {
      f *= 2.0;
      e--;
    } else {
      break;
    }
  }
}

bool below(float fa, int ea, float fb, int eb) {
  return ea < eb || (ea == eb && fa < fb);
}

// The scale as float32: Inf beyond its range, as the host's float64 scale rounds.
float valueOf(float f, int e) {
  if (e > 128) {
    return uintBitsToFloat(0x7f800000u);
  }
  int h = int(floor(float(e) * 0.5));
  return (f * pow2(h)) * pow2(e - h);
}

void main() {
  int k = getOutputCoords();
  bool found = ${FLAGGED('getFlag()')};
  if (k >= ${COUNTER_VALUES}) {
    // A variable's clean stepParam calls: this call's variable counts a clean call.
    setOutput(getC(k) + (k == ${COUNTER_VALUES} + param - 1 && !found ? 1.0 : 0.0));
    return;
  }
  float clean = getC(${CLEAN});
  float skipped = getC(${SKIPPED});
  float last = 0.0;
  float tracker = getC(${TRACKER});
  float f = getC(${FRACT});
  int e = int(getC(${EXP}));
  float scale = getC(${SCALE});
  float since = getC(${SINCE});
  if (param > 0) {
    // A stepParam counts the skip (reported by the next whole step) or nothing here.
    if (found) {
      skipped += 1.0;
      last = 1.0;
      since = 1.0;
    }
  } else if (found || since != 0.0) {
    // A whole step skipped, or run after skipped stepParams: an overflow for the scaler.
    if (found) {
      skipped += 1.0;
    } else {
      clean += 1.0;
    }
    since = 0.0;
    last = 1.0;
    if (scaler != 0) {
      times(f, e, backoffFactor);
      if (below(f, e, minFract, minExp)) {
        f = minFract;
        e = minExp;
      }
      tracker = 0.0;
      scale = valueOf(f, e);
    }
  } else {
    clean += 1.0;
    if (scaler != 0) {
      tracker += 1.0;
      if (int(tracker) == growthInterval) {
        times(f, e, growthFactor);
        if (below(maxFract, maxExp, f, e)) {
          f = maxFract;
          e = maxExp;
        }
        tracker = 0.0;
        scale = valueOf(f, e);
      }
    }
  }
  float next[${COUNTER_VALUES}] = float[${COUNTER_VALUES}](clean, skipped, last, tracker, f, float(e), scale, since);
  setOutput(next[k]);
}`;

/** The counters program's uniforms: [floats, ints] names and values. */
function counterUniforms(
  scaler: ScalerSettings | undefined,
  param: number,
): { floats: string[]; ints: string[]; values: number[] } {
  const lowest = frexp(scaler?.minScale ?? 1);
  const highest = frexp(scaler?.maxScale ?? 1);
  return {
    floats: ['backoffFactor', 'growthFactor', 'minFract', 'maxFract'],
    ints: ['scaler', 'growthInterval', 'minExp', 'maxExp', 'param'],
    values: [
      scaler?.backoffFactor ?? 0.5,
      scaler?.growthFactor ?? 2,
      lowest.fract,
      highest.fract,
      scaler ? 1 : 0,
      scaler?.growthInterval ?? 0,
      lowest.exp,
      highest.exp,
      param,
    ],
  };
}

/** The counters an epoch starts from, as the device keeps them. */
function startValues(counters: CounterValues): number[] {
  const scale = counters.lossScaler?.scale ?? 1;
  const { fract, exp } = frexp(scale);
  // Each variable counts its clean calls from 0 in an epoch.
  const values = Array<number>(COUNTER_VALUES + (counters.paramSteps?.length ?? 0)).fill(0);
  values[SKIPPED] = counters.skippedSteps;
  values[LAST_SKIPPED] = counters.lastStepSkipped ? 1 : 0;
  values[TRACKER] = counters.lossScaler?.growthTracker ?? 0;
  values[FRACT] = fract;
  values[EXP] = exp;
  values[SCALE] = Math.fround(scale);
  values[SINCE] = counters.skippedSinceStep ? 1 : 0;
  return values;
}

function countsOf(values: ArrayLike<number>): DeviceCounts {
  return {
    clean: values[CLEAN] as number,
    skipped: values[SKIPPED] as number,
    lastSkipped: values[LAST_SKIPPED] !== 0,
    tracker: values[TRACKER] as number,
    // Exact: the significand is a float32 and the exponent an integer.
    scale: (values[FRACT] as number) * 2 ** (values[EXP] as number),
    since: values[SINCE] !== 0,
    params: Array.from(values).slice(COUNTER_VALUES),
  };
}

/** Whether the active tfjs-webgl backend can keep the counters: WebGL2 (bit casts, texelFetch) with float32 render targets. */
export function webglKeepsCounters(): boolean {
  return (
    tf.getBackend() === 'webgl' && tf.env().getNumber('WEBGL_VERSION') === 2 && tf.env().getBool('WEBGL_RENDER_FLOAT32_ENABLED')
  );
}

/** The counters on tfjs-webgl's device (see the file comment). */
export class WebGLCounters implements CounterEngine {
  #backend: object | undefined;
  /** The counters after the last step (or the epoch's start). */
  #counters: tf.Tensor | undefined;
  /** A view of `#counters`' scale, for the next loss. */
  #scale: tf.Scalar | undefined;
  /** The flag chain's start: nothing found. */
  #zero: tf.Scalar | undefined;

  get device(): object {
    return this.#backend as object;
  }

  /** Uses the active tfjs backend: a new one (a restored context) starts a new epoch. */
  attach(): this {
    const backend = tf.backend();
    if (backend !== this.#backend) {
      this.#release();
      this.#backend = backend;
    }
    return this;
  }

  begin(counters: CounterValues): void {
    this.#replace(tf.tensor1d(startValues(counters), 'float32'));
  }

  lossScale(): tf.Scalar {
    const counters = this.#counters as tf.Tensor;
    this.#scale ??= tf.keep(tf.tidy(() => tf.reshape(tf.slice(counters, [SCALE], [1]), []) as tf.Scalar));
    return this.#scale;
  }

  step(plan: DeviceStepPlan): Promise<DeviceCounts | undefined> {
    if (!this.#zero) this.#zero = tf.keep(tf.scalar(0));
    let next: tf.Tensor;
    try {
      next = this.#run(plan, this.#counters as tf.Tensor, this.#zero);
    } catch (error) {
      // A whole step may have assigned the tensors before the failing one: only a stepParam is known untouched.
      if (!plan.param || error instanceof StableAdamWError) throw error;
      throw new DeviceError(
        `StableAdamW's WebGL stepParam(${plan.entries[0]?.step.param.name}) failed before changing anything (${error instanceof Error ? error.message : String(error)})`,
        "Retry the call; if it recurs, use kernel: 'composed' (its skip decision reads the flags back synchronously).",
      );
    }
    this.#replace(next);
    return next.data().then(countsOf);
  }

  /**
   * The step's programs (see the file comment); returns the new counters. The moments and the
   * variable of a tensor are assigned together after its programs ran, so a stepParam (one
   * tensor) whose program throws changes nothing.
   */
  #run(plan: DeviceStepPlan, c: tf.Tensor, zero: tf.Scalar): tf.Tensor {
    const scaler = plan.scaler ? 1 : 0;
    const param = plan.param ? plan.param.index + 1 : 0;
    return tf.tidy(() => {
      const table = tf.tensor1d(plan.betas);
      const grads = plan.entries.map(({ step }) => unpackedOnce(step.grad));
      // 1. The sums, the flag chained through them.
      let flag: tf.Tensor = zero;
      const totals = plan.entries.map(({ step, group, checked }, i) => {
        const prev = flag;
        const reduction: Reduction = {
          ratio: RATIO,
          partial: PARTIAL,
          extras: (kind, final) =>
            kind === 'ratio'
              ? {
                  inputs: [c, table, final ? prev : zero],
                  floats: [],
                  ints: [scaler, group, plan.rows, plan.rowBase, param, checked ? 1 : 0],
                }
              : { inputs: [final ? prev : zero], floats: [], ints: [] },
        };
        flag = sumRatio(grads[i] as tf.Tensor, step.state.expAvgSq, step.moments.epsSq, reduction);
        return flag;
      });
      // 2. The counters.
      const uniforms = counterUniforms(plan.scaler, param);
      const counters = run(program(['c', 'flag'], c.shape, COUNTERS, uniforms.floats, uniforms.ints), [c, flag], uniforms.values);
      // 3. The moments and the update (none for a moment-only stepParam), unless flagged.
      plan.entries.forEach(({ step: { param: variable, state, update }, group }, i) => {
        const g = grads[i] as tf.Tensor;
        const ints = [scaler, group, plan.rows, plan.rowBase, param];
        const m = run(
          program(['g', 'm', 'c', 'table', 'flag'], variable.shape, FIRST_MOMENT, [], COUNTER_INTS),
          [g, state.expAvg, c, table, flag],
          ints,
        );
        const v = run(
          program(['g', 'v', 'c', 'table', 'flag'], variable.shape, SECOND_MOMENT, [], COUNTER_INTS),
          [g, state.expAvgSq, c, table, flag],
          ints,
        );
        const theta = plan.param?.accumulate
          ? undefined
          : run(
              program(['p', 'm', 'v', 's', 'flag'], variable.shape, UPDATE, UPDATE_UNIFORMS),
              [variable, m, v, totals[i] as tf.Tensor, flag],
              updateScalars(update),
            );
        state.expAvg.assign(m);
        state.expAvgSq.assign(v);
        if (theta) variable.assign(theta);
      });
      return counters;
    });
  }

  dispose(): void {
    this.#release();
  }

  /** `counters` become the current ones; the old ones and their scale view are freed (after a pending read). */
  #replace(counters: tf.Tensor): void {
    this.#scale?.dispose();
    this.#scale = undefined;
    this.#counters?.dispose();
    this.#counters = tf.keep(counters);
  }

  #release(): void {
    this.#scale?.dispose();
    this.#counters?.dispose();
    this.#zero?.dispose();
    this.#scale = undefined;
    this.#counters = undefined;
    this.#zero = undefined;
  }
}
