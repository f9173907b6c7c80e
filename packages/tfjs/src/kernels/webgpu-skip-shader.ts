/// <reference types="@webgpu/types" />
import { frexp, type ScalerSettings, type SkipEntry } from './device-skip.js';
import { blocksOf, buildPipelines, WGSL_HELPERS, WORKGROUP, wgslTensorTotal, wgslThreadLoop } from './webgpu-multi-tensor.js';

/**
 * The skip-mode variant of the multi-tensor step's three dispatches (`nonFinite: 'skip'` decided
 * on the device, nothing read back; see `webgpu-device-skip.ts` for the host side).
 *
 * The counters live in a small control buffer: two slots of (epoch, serial, clean steps, skipped
 * steps, last step skipped, growth tracker, loss scale, stepParam skipped since the last step), a
 * found-non-finite flag, and each variable's clean `stepParam` calls (gradient release). A
 * `stepParam` runs the same three dispatches on one variable (`table.param`): its betas row is
 * indexed by the variable's count, and the counters pass counts the call or the skip alone. A step reads
 * slot `slot` (the host knows its parity) and writes the other, so no counter is read and written
 * in the same step and no copy or fourth dispatch resets anything.
 * 1. `ratios`: each thread sums g²/max(v′, ε²) as phase 1 does, WITHOUT writing m or v, and ORs
 *    the flag (one atomic per thread, order-independent) when a raw gradient of a 'skip' tensor
 *    is NaN or ±Inf (exponent bits all set).
 * 2. `totals`: per-tensor totals, and thread 0 of the step's last batch writes the next slot:
 *    skipped (count, backoff) or clean (step, growth), then clears the flag.
 * 3. `apply`: returns at once when the next slot says skipped; otherwise recomputes m′ and v′ from
 *    g, m and v (the same expressions as phase 1) and writes m, v and θ.
 * g = raw gradient / the slot's scale with a loss scaler (see `unscaleOf`). The debiased betas come from a
 * per-step table with one row per group and candidate step, indexed by the slot's clean count
 * minus the table's base: the host does not know how many earlier steps were skipped.
 */

/**
 * u32 words of one counter slot: epoch, serial, clean, skipped, lastSkipped, tracker, the loss
 * scale as float32 (what the loss is multiplied by), the scale itself as significand (f32, in
 * [0.5, 1)) and exponent (i32), so a scale beyond float32's range (2^130 is Inf there) backs off
 * as it does in float64 on the host, and whether a stepParam was skipped since the last whole step.
 */
export const SLOT_WORDS = 10;
/** Bytes of the control buffer before the per-variable counts: two slots and the flag. */
export const CONTROL_BYTES = 84;
/** Word of a slot holding "a stepParam was skipped since the last whole step". */
export const SINCE_WORD = 9;
/** Words of a slot holding the scale as float32, its significand and its exponent. */
export const SCALE_WORD = 6;
export const FRACT_WORD = 7;
export const EXP_WORD = 8;
const HEADER_WORDS = 20;
const ENTRY_WORDS = 13;

const SHADER = `
struct Entry {
  offset : u32, length : u32, firstBlock : u32, blocks : u32, perThread : u32,
  group : u32, checked : u32, pad : u32,
  epsSq : f32, lr : f32, eps : f32, decayPerLr : f32, numel : f32,
}
struct Table {
  tensorCount : u32, blockCount : u32, rowWidth : u32, rows : u32,
  rowBase : u32, slot : u32, finalize : u32, scaler : u32,
  growthInterval : u32, growthFactor : f32, backoffFactor : f32, minFract : f32,
  minExp : i32, maxFract : f32, maxExp : i32, infBits : u32,
  param : u32, accumulate : u32, pad0 : u32, pad1 : u32,
  entries : array<Entry>,
}
struct Slot {
  epoch : u32, serial : u32, clean : u32, skipped : u32, lastSkipped : u32, tracker : u32,
  scale : f32, fract : f32, exp : i32, since : u32,
}
struct Scale { fract : f32, exp : i32 }
struct Control { slots : array<Slot, 2>, found : atomic<u32>, params : array<u32> }

@group(0) @binding(0) var<storage, read> table : Table;
@group(0) @binding(1) var<storage, read> grad : array<f32>;
@group(0) @binding(2) var<storage, read_write> param : array<f32>;
@group(0) @binding(3) var<storage, read_write> expAvg : array<f32>;
@group(0) @binding(4) var<storage, read_write> expAvgSq : array<f32>;
// Partials (blockCount × ${WORKGROUP}), then one total per tensor.
@group(0) @binding(5) var<storage, read_write> scratch : array<f32>;
@group(0) @binding(6) var<storage, read_write> control : Control;
// (1 − β̂1, β̂2, 1 − β̂2) per group and candidate step.
@group(0) @binding(7) var<storage, read> betas : array<f32>;
${WGSL_HELPERS}

fn isNonFinite(x : f32) -> bool {
  return (bitcast<u32>(x) & 0x7f800000u) == 0x7f800000u;
}

// The betas row of \`group\` at the device's step; for a stepParam (\`table.param\`), at the
// variable's own count, which the counters pass (\`finalize\`) has already advanced by \`after\`.
fn rowOf(group : u32, after : u32) -> u32 {
  var clean = control.slots[table.slot].clean;
  if (table.param != 0u) { clean = control.params[table.param - 1u] - after; }
  return (group * table.rows + min(clean - table.rowBase, table.rows - 1u)) * 3u;
}

// 2^e as float32, exactly, for e in [-126, 127] (ldexp and exp2 may flush or round).
fn pow2(e : i32) -> f32 {
  return bitcast<f32>(u32(clamp(e, -126, 127) + 127) << 23u);
}

// Unscaling by 1 / (fract · 2^exp) as three factors: 2^-exp split in two normal powers of two,
// then 1 / fract. As exact as the host's multiply by fround(1 / scale) where that is a normal
// float32, and right where it is not (1 / 2^127 is subnormal, which GPUs flush to zero).
struct Unscale { a : f32, b : f32, inv : f32 }

fn unscaleOf() -> Unscale {
  if (table.scaler == 0u) { return Unscale(1.0, 1.0, 1.0); }
  let cur = control.slots[table.slot];
  let half = -cur.exp / 2;
  return Unscale(pow2(half), pow2(-cur.exp - half), 1.0 / cur.fract);
}

fn unscaled(raw : f32, u : Unscale) -> f32 {
  return ((raw * u.a) * u.b) * u.inv;
}

fn times(s : Scale, factor : f32) -> Scale {
  let r = frexp(s.fract * factor);
  return Scale(r.fract, s.exp + r.exp);
}

fn below(a : Scale, b : Scale) -> bool {
  return a.exp < b.exp || (a.exp == b.exp && a.fract < b.fract);
}

// The larger of the two (select takes no structs).
fn larger(a : Scale, b : Scale) -> Scale {
  if (below(a, b)) { return b; }
  return a;
}

fn smaller(a : Scale, b : Scale) -> Scale {
  if (below(b, a)) { return b; }
  return a;
}

// The scale as float32: Inf beyond its range, as the host's float64 scale rounds.
fn valueOf(s : Scale) -> f32 {
  // The host writes Inf's bits: a constant Inf does not compile.
  if (s.exp > 128) { return bitcast<f32>(table.infBits); }
  let half = s.exp / 2;
  return (s.fract * pow2(half)) * pow2(s.exp - half);
}

fn setScale(slot : ptr<function, Slot>, s : Scale) {
  (*slot).fract = s.fract;
  (*slot).exp = s.exp;
  (*slot).scale = valueOf(s);
}

@compute @workgroup_size(${WORKGROUP})
fn ratios(@builtin(workgroup_id) wid : vec3<u32>, @builtin(local_invocation_index) lane : u32) {
  let block = wid.y * table.rowWidth + wid.x;
  if (block >= table.blockCount) { return; }
  let e = table.entries[tensorOf(block)];
  let r = rowOf(e.group, 0u);
  let beta2 = betas[r + 1u];
  let w2 = betas[r + 2u];
  let u = unscaleOf();
  var sum = 0.0;
  var run = 0.0;
  var count = 0u;
  var bad = false;
  ${wgslThreadLoop(`
    let raw = grad[j];
    bad = bad || isNonFinite(raw);
    let g = unscaled(raw, u);
    let v = expAvgSq[j] * beta2 + w2 * (g * g);
    run += (g * g) / max(v, e.epsSq);
    count++;
    if (count == 16u) {
      sum += run;
      run = 0.0;
      count = 0u;
    }`)}
  scratch[block * ${WORKGROUP}u + lane] = sum + run;
  if (bad && e.checked != 0u) { atomicOr(&control.found, 1u); }
}

// The counters after this step, into the slot the next step reads (GradScaler's rules). A
// stepParam counts the variable's call or the skip (and "skipped since the last step"); a whole
// step after skipped stepParams counts as an overflow of the scaler (core's \`#endStep\`).
fn finalize() {
  let cur = control.slots[table.slot];
  var next = cur;
  next.serial = cur.serial + 1u;
  let found = atomicLoad(&control.found) != 0u;
  if (table.param != 0u) {
    if (found) {
      next.skipped = cur.skipped + 1u;
      next.lastSkipped = 1u;
      next.since = 1u;
    } else {
      control.params[table.param - 1u] += 1u;
      next.lastSkipped = 0u;
    }
    control.slots[1u - table.slot] = next;
    atomicStore(&control.found, 0u);
    return;
  }
  next.since = 0u;
  let scale = Scale(cur.fract, cur.exp);
  let lowest = Scale(table.minFract, table.minExp);
  let highest = Scale(table.maxFract, table.maxExp);
  if (found) {
    next.skipped = cur.skipped + 1u;
  } else {
    next.clean = cur.clean + 1u;
  }
  if (found || cur.since != 0u) {
    next.lastSkipped = 1u;
    if (table.scaler != 0u) {
      setScale(&next, larger(times(scale, table.backoffFactor), lowest));
      next.tracker = 0u;
    }
  } else {
    next.lastSkipped = 0u;
    if (table.scaler != 0u) {
      next.tracker = cur.tracker + 1u;
      if (next.tracker == table.growthInterval) {
        setScale(&next, smaller(times(scale, table.growthFactor), highest));
        next.tracker = 0u;
      }
    }
  }
  control.slots[1u - table.slot] = next;
  atomicStore(&control.found, 0u);
}

@compute @workgroup_size(${WORKGROUP})
fn totals(@builtin(global_invocation_id) id : vec3<u32>) {
  let t = id.x;
  if (t == 0u && table.finalize != 0u) { finalize(); }
  if (t >= table.tensorCount) { return; }
  let e = table.entries[t];
  ${wgslTensorTotal('scratch')}
  scratch[table.blockCount * ${WORKGROUP}u + t] = total;
}

@compute @workgroup_size(${WORKGROUP})
fn apply(@builtin(workgroup_id) wid : vec3<u32>, @builtin(local_invocation_index) lane : u32) {
  // Skipped by this step's own flag (lastSkipped may also be set by earlier skipped stepParams).
  if (control.slots[1u - table.slot].skipped != control.slots[table.slot].skipped) { return; }
  let block = wid.y * table.rowWidth + wid.x;
  if (block >= table.blockCount) { return; }
  let t = tensorOf(block);
  let e = table.entries[t];
  let r = rowOf(e.group, 1u);
  let w1 = betas[r];
  let beta2 = betas[r + 1u];
  let w2 = betas[r + 2u];
  let u = unscaleOf();
  let rms = sqrt(scratch[table.blockCount * ${WORKGROUP}u + t] / e.numel);
  let eta = select(e.lr, e.lr / rms, !isNan(rms) && rms > 1.0);
  let decay = 1.0 - eta * e.decayPerLr;
  ${wgslThreadLoop(`
    let g = unscaled(grad[j], u);
    let m0 = expAvg[j];
    let m = m0 + w1 * (g - m0);
    let v = expAvgSq[j] * beta2 + w2 * (g * g);
    expAvg[j] = m;
    expAvgSq[j] = v;
    if (table.accumulate == 0u) { param[j] = param[j] * decay - (eta * m) / (sqrt(v) + e.eps); }`)}
}`;

export interface SkipPipelines {
  readonly layout: GPUBindGroupLayout;
  readonly ratios: GPUComputePipeline;
  readonly totals: GPUComputePipeline;
  readonly apply: GPUComputePipeline;
}

const cache = new WeakMap<GPUDevice, SkipPipelines>();

export function skipPipelinesFor(device: GPUDevice): SkipPipelines {
  const cached = cache.get(device);
  if (cached) return cached;
  const bindings = [
    'read-only-storage',
    'read-only-storage',
    ...Array<GPUBufferBindingType>(5).fill('storage'),
    'read-only-storage',
  ] as const;
  const built = buildPipelines(device, SHADER, bindings, ['ratios', 'totals', 'apply']);
  cache.set(device, built);
  return built;
}

/** What a skip-mode step's tables hold besides the tensors (see `WebGPUCounters.step`). */
export interface SkipHeader {
  /** Candidate steps per group in the betas table. */
  readonly rows: number;
  /** The clean count of the betas table's first row. */
  readonly rowBase: number;
  /** The slot this step reads (its serial's parity). */
  readonly slot: number;
  /** The loss scaler's settings, when there is one. */
  readonly scaler?: ScalerSettings;
  /** A stepParam: the variable's index in the counts, and whether it updates the moments only. */
  readonly param?: { readonly index: number; readonly accumulate: boolean };
}

/** The table of one skip-mode batch: header (incl. whether this batch finalizes the counters), then one entry per tensor. */
export function skipTableOf(batch: readonly SkipEntry[], rowWidth: number, header: SkipHeader, finalize: boolean): ArrayBuffer {
  const bytes = new ArrayBuffer(4 * (HEADER_WORDS + ENTRY_WORDS * Math.max(1, batch.length)));
  const u32 = new Uint32Array(bytes);
  const f32 = new Float32Array(bytes);
  let offset = 0;
  let blocks = 0;
  batch.forEach(({ step: { info, moments, update }, group, checked }, t) => {
    const at = HEADER_WORDS + ENTRY_WORDS * t;
    const n = info.numel;
    const { count, perThread } = blocksOf(n);
    u32.set([offset, n, blocks, count, perThread, group, checked ? 1 : 0, 0], at);
    f32.set([moments.epsSq, update.lr, update.eps, update.weightDecayPerLr, n], at + 8);
    offset += n;
    blocks += count;
  });
  const { scaler } = header;
  u32.set([batch.length, blocks, rowWidth, header.rows, header.rowBase, header.slot, finalize ? 1 : 0, scaler ? 1 : 0], 0);
  const i32 = new Int32Array(bytes);
  const lowest = frexp(scaler?.minScale ?? 1);
  const highest = frexp(scaler?.maxScale ?? 1);
  u32[8] = scaler?.growthInterval ?? 0;
  f32.set([scaler?.growthFactor ?? 2, scaler?.backoffFactor ?? 0.5, lowest.fract], 9);
  i32[12] = lowest.exp;
  f32[13] = highest.fract;
  i32[14] = highest.exp;
  u32[15] = 0x7f800000;
  u32.set([header.param ? header.param.index + 1 : 0, header.param?.accumulate ? 1 : 0], 16);
  return bytes;
}
