/**
 * The safetensors format (https://github.com/huggingface/safetensors), read and written exactly as
 * its reference implementation does:
 *
 *     [u64 little-endian: header length N][N bytes: JSON header, padded with spaces to a multiple of 8][data]
 *
 * The header maps each tensor name to `{"dtype", "shape", "data_offsets": [begin, end]}` (offsets
 * relative to the start of the data) and may hold `"__metadata__"`, a string → string map. Data is
 * raw little-endian, row-major, without gaps: sorted by offset, each tensor starts where the
 * previous one ended and the last one ends at the end of the file. The writer sorts tensors by
 * descending dtype alignment, then by name, so every tensor is aligned to its element size.
 *
 * Only the dtypes optimizer checkpoints need are supported: F64, F32, BF16, F16 (the 16-bit ones as
 * their raw bits in a `Uint16Array`) and I64 (as a `BigInt64Array`).
 */
import { formatValue, StateDictError } from './errors.js';

/** The safetensors dtypes this module reads and writes. */
export type SafetensorsDtype = 'F64' | 'F32' | 'BF16' | 'F16' | 'I64';

/** A tensor's elements: `Float64Array` (F64), `Float32Array` (F32), raw bits (BF16, F16), `BigInt64Array` (I64). */
export type SafetensorsData = Float64Array | Float32Array | Uint16Array | BigInt64Array;

/** One tensor of a safetensors file, row-major. */
export interface SafetensorsTensor {
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  readonly data: SafetensorsData;
}

/** A parsed safetensors file. */
export interface SafetensorsFile {
  /** In file order (by data offset). */
  readonly tensors: Map<string, SafetensorsTensor>;
  /** The header's `__metadata__`, or undefined when the file has none. */
  readonly metadata: Record<string, string> | undefined;
}

interface DtypeSpec {
  readonly size: number;
  /** Position in the reference implementation's `Dtype` enum order (increasing alignment). */
  readonly rank: number;
  readonly array: { new (buffer: ArrayBufferLike, byteOffset: number, length: number): SafetensorsData };
}

const DTYPE_SPECS: Readonly<Record<SafetensorsDtype, DtypeSpec>> = {
  F16: { size: 2, rank: 0, array: Uint16Array },
  BF16: { size: 2, rank: 1, array: Uint16Array },
  F32: { size: 4, rank: 2, array: Float32Array },
  F64: { size: 8, rank: 3, array: Float64Array },
  I64: { size: 8, rank: 4, array: BigInt64Array },
};

/** Dtypes of the format that this module does not handle (named in errors, unlike unknown ones). */
const OTHER_SPEC_DTYPES = new Set([
  'BOOL',
  'F4',
  'F6_E2M3',
  'F6_E3M2',
  'U8',
  'I8',
  'F8_E5M2',
  'F8_E4M3',
  'F8_E8M0',
  'I16',
  'U16',
  'I32',
  'U32',
  'C64',
  'U64',
]);

/** The reference reader refuses headers above 100 MB. */
const MAX_HEADER_BYTES = 100_000_000;
const METADATA_KEY = '__metadata__';
const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;
const FIX_READ = 'Pass the complete bytes of a safetensors file (as written by safetensors or writeSafetensors).';
const FIX_WRITE = 'Pass { dtype, shape, data } with data of the dtype’s typed array and shape matching its length.';

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function isDtype(x: unknown): x is SafetensorsDtype {
  return typeof x === 'string' && Object.hasOwn(DTYPE_SPECS, x);
}

function isCount(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

/** Element count of a shape, or undefined when it is not a list of non-negative integers or overflows. */
function elementCount(shape: unknown): number | undefined {
  if (!Array.isArray(shape)) return undefined;
  let n = 1;
  for (const d of shape) {
    if (!isCount(d)) return undefined;
    n *= d;
  }
  return Number.isSafeInteger(n) ? n : undefined;
}

const encoder = new TextEncoder();

/** Byte-wise comparison of the UTF-8 encodings, as Rust orders `String`s. */
function compareUtf8(a: string, b: string): number {
  const x = encoder.encode(a);
  const y = encoder.encode(b);
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) {
    if (x[i] !== y[i]) return (x[i] as number) - (y[i] as number);
  }
  return x.length - y.length;
}

function arrayMatches(dtype: SafetensorsDtype, data: unknown): data is SafetensorsData {
  switch (dtype) {
    case 'F64':
      return data instanceof Float64Array;
    case 'F32':
      return data instanceof Float32Array;
    case 'BF16':
    case 'F16':
      return data instanceof Uint16Array;
    case 'I64':
      return data instanceof BigInt64Array;
  }
}

/** Copies `data` into `out` at `offset` as little-endian bytes. */
function writeLittleEndian(out: Uint8Array, offset: number, data: SafetensorsData): void {
  if (LITTLE_ENDIAN) {
    out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), offset);
    return;
  }
  const view = new DataView(out.buffer, out.byteOffset + offset, data.byteLength);
  const size = data.BYTES_PER_ELEMENT;
  for (let i = 0; i < data.length; i++) {
    const x = data[i] as number | bigint;
    if (typeof x === 'bigint') view.setBigInt64(i * size, x, true);
    else if (data instanceof Float64Array) view.setFloat64(i * size, x, true);
    else if (data instanceof Float32Array) view.setFloat32(i * size, x, true);
    else view.setUint16(i * size, x, true);
  }
}

/**
 * Encodes tensors (and optional string metadata) as a safetensors file, byte for byte as the
 * reference writer does: tensors sorted by descending dtype alignment then name, compact JSON with
 * `__metadata__` first, the header padded with spaces to a multiple of 8 bytes.
 *
 * @throws StateDictError naming the tensor when a dtype is unsupported, a shape is not a list of
 * non-negative integers, the data is not the dtype's typed array or its length differs from the
 * shape's element count, a name is `__metadata__`, or a metadata value is not a string.
 */
export function writeSafetensors(
  tensors: ReadonlyMap<string, SafetensorsTensor> | Readonly<Record<string, SafetensorsTensor>>,
  metadata?: Readonly<Record<string, string>>,
): Uint8Array {
  const entries: [string, SafetensorsTensor][] =
    tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors as Record<string, SafetensorsTensor>);
  for (const [name, tensor] of entries) {
    const path = `tensors[${JSON.stringify(name)}]`;
    if (name === METADATA_KEY) {
      throw new StateDictError(path, 'uses the name reserved for the metadata', 'Rename the tensor.');
    }
    if (!isRecord(tensor) || !isDtype(tensor.dtype)) {
      throw new StateDictError(
        `${path}.dtype`,
        `is ${formatValue(isRecord(tensor) ? tensor.dtype : tensor)}, not one of F64, F32, BF16, F16, I64`,
        FIX_WRITE,
      );
    }
    const numel = elementCount(tensor.shape);
    if (numel === undefined) {
      throw new StateDictError(
        `${path}.shape`,
        `is ${formatValue(tensor.shape)}, not a list of non-negative integers`,
        FIX_WRITE,
      );
    }
    if (!arrayMatches(tensor.dtype, tensor.data)) {
      throw new StateDictError(
        `${path}.data`,
        `is ${formatValue(tensor.data)}, not the typed array of ${tensor.dtype}`,
        FIX_WRITE,
      );
    }
    if (tensor.data.length !== numel) {
      throw new StateDictError(
        `${path}.data`,
        `has ${tensor.data.length} elements but shape ${formatValue(tensor.shape)} has ${numel}`,
        FIX_WRITE,
      );
    }
  }
  const metaEntries = metadata === undefined ? undefined : Object.entries(metadata).sort(([a], [b]) => compareUtf8(a, b));
  for (const [key, value] of metaEntries ?? []) {
    if (typeof value !== 'string') {
      throw new StateDictError(
        `__metadata__.${key}`,
        `is ${formatValue(value)}, not a string`,
        'Serialize metadata values to strings.',
      );
    }
  }

  entries.sort(([nameA, a], [nameB, b]) => DTYPE_SPECS[b.dtype].rank - DTYPE_SPECS[a.dtype].rank || compareUtf8(nameA, nameB));
  const fields: string[] = [];
  if (metaEntries) {
    fields.push(`"${METADATA_KEY}":{${metaEntries.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`);
  }
  let offset = 0;
  for (const [name, { dtype, shape, data }] of entries) {
    const end = offset + data.byteLength;
    fields.push(`${JSON.stringify(name)}:${JSON.stringify({ dtype, shape: [...shape], data_offsets: [offset, end] })}`);
    offset = end;
  }
  const json = encoder.encode(`{${fields.join(',')}}`);
  const headerLength = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerLength + offset);
  const view = new DataView(out.buffer);
  view.setUint32(0, headerLength, true);
  view.setUint32(4, Math.floor(headerLength / 2 ** 32), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLength);
  let at = 8 + headerLength;
  for (const [, { data }] of entries) {
    writeLittleEndian(out, at, data);
    at += data.byteLength;
  }
  return out;
}

/** The top-level keys of a JSON object text in order, duplicates included (`JSON.parse` keeps the last). */
function topLevelKeys(json: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  for (let i = 0; i < json.length; i++) {
    const c = json[i];
    if (c === '"') {
      let j = i + 1;
      while (json[j] !== '"') j += json[j] === '\\' ? 2 : 1;
      if (depth === 1) {
        let k = j + 1;
        while (json[k] === ' ' || json[k] === '\n' || json[k] === '\r' || json[k] === '\t') k++;
        if (json[k] === ':') keys.push(JSON.parse(json.slice(i, j + 1)) as string);
      }
      i = j;
    } else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') depth--;
  }
  return keys;
}

interface HeaderEntry {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  begin: number;
  end: number;
}

function parseEntry(name: string, value: unknown): HeaderEntry {
  if (!isRecord(value)) {
    throw new StateDictError(name, `is ${formatValue(value)}, not an object with dtype, shape and data_offsets`, FIX_READ);
  }
  const { dtype, shape, data_offsets: offsets } = value;
  if (!isDtype(dtype)) {
    const why =
      typeof dtype === 'string' && OTHER_SPEC_DTYPES.has(dtype)
        ? 'a dtype that optimizer checkpoints do not use'
        : 'not a known dtype';
    throw new StateDictError(`${name}.dtype`, `is ${formatValue(dtype)}, ${why} (F64, F32, BF16, F16, I64 are read)`, FIX_READ);
  }
  const numel = elementCount(shape);
  if (numel === undefined) {
    throw new StateDictError(`${name}.shape`, `is ${formatValue(shape)}, not a list of non-negative integers`, FIX_READ);
  }
  if (
    !Array.isArray(offsets) ||
    offsets.length !== 2 ||
    !isCount(offsets[0]) ||
    !isCount(offsets[1]) ||
    offsets[1] < offsets[0]
  ) {
    throw new StateDictError(
      `${name}.data_offsets`,
      `is ${formatValue(offsets)}, not [begin, end] with 0 ≤ begin ≤ end`,
      FIX_READ,
    );
  }
  const [begin, end] = offsets as [number, number];
  const bytes = numel * DTYPE_SPECS[dtype].size;
  if (!Number.isSafeInteger(bytes) || end - begin !== bytes) {
    throw new StateDictError(
      `${name}.data_offsets`,
      `spans ${end - begin} bytes but ${dtype} ${formatValue(shape)} needs ${bytes}`,
      FIX_READ,
    );
  }
  return { name, dtype, shape: shape as number[], begin, end };
}

function parseMetadata(value: unknown): Record<string, string> | undefined {
  if (value === null) return undefined;
  if (!isRecord(value)) throw new StateDictError(METADATA_KEY, `is ${formatValue(value)}, not a string → string map`, FIX_READ);
  const out: Record<string, string> = {};
  for (const [key, v] of Object.entries(value)) {
    if (typeof v !== 'string') throw new StateDictError(`${METADATA_KEY}.${key}`, `is ${formatValue(v)}, not a string`, FIX_READ);
    out[key] = v;
  }
  return out;
}

/** A typed array over `bytes[offset, offset + n·size)`: a view when aligned on a little-endian host, a copy otherwise. */
function tensorData(bytes: Uint8Array, offset: number, dtype: SafetensorsDtype, numel: number): SafetensorsData {
  const { size, array } = DTYPE_SPECS[dtype];
  const at = bytes.byteOffset + offset;
  if (LITTLE_ENDIAN && at % size === 0) return new array(bytes.buffer, at, numel);
  const copy = bytes.slice(offset, offset + numel * size);
  if (LITTLE_ENDIAN) return new array(copy.buffer, 0, numel);
  const view = new DataView(copy.buffer);
  const out = new array(new ArrayBuffer(numel * size), 0, numel);
  for (let i = 0; i < numel; i++) {
    if (out instanceof BigInt64Array) out[i] = view.getBigInt64(i * size, true);
    else if (out instanceof Float64Array) out[i] = view.getFloat64(i * size, true);
    else if (out instanceof Float32Array) out[i] = view.getFloat32(i * size, true);
    else out[i] = view.getUint16(i * size, true);
  }
  return out;
}

/**
 * Parses a safetensors file. Tensors are zero-copy views into `bytes` where the data is aligned to
 * its element size (always, for files from the reference writer held in their own buffer), copies
 * otherwise. The whole file is validated first, as strictly as the reference reader: a file that
 * fails any check throws and nothing is returned.
 *
 * @throws StateDictError when the file is shorter than its header length says, the header is not
 * UTF-8 JSON object text (or above 100 MB), a name appears twice, `__metadata__` is not a string map,
 * a dtype is unknown or unsupported, a shape's byte size differs from its offsets, or the offsets
 * overlap, leave gaps or do not end exactly at the end of the file.
 */
export function readSafetensors(bytes: Uint8Array): SafetensorsFile {
  if (!(bytes instanceof Uint8Array)) {
    throw new StateDictError('(file)', `is ${formatValue(bytes)}, not a Uint8Array`, FIX_READ);
  }
  if (bytes.length < 8) {
    throw new StateDictError('(header length)', `is missing: the file has ${bytes.length} bytes, fewer than 8`, FIX_READ);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, 8);
  const low = view.getUint32(0, true);
  const high = view.getUint32(4, true);
  const headerLength = high * 2 ** 32 + low;
  if (high !== 0 || headerLength > MAX_HEADER_BYTES) {
    throw new StateDictError(
      '(header length)',
      `is ${headerLength}, above the format's limit of ${MAX_HEADER_BYTES} bytes`,
      FIX_READ,
    );
  }
  if (8 + headerLength > bytes.length) {
    throw new StateDictError(
      '(header length)',
      `is ${headerLength}, past the end of the ${bytes.length}-byte file (truncated or not safetensors)`,
      FIX_READ,
    );
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes.subarray(8, 8 + headerLength));
  } catch {
    throw new StateDictError('(header)', 'is not valid UTF-8', FIX_READ);
  }
  let header: unknown;
  try {
    if (!text.startsWith('{')) throw new SyntaxError('not an object');
    header = JSON.parse(text);
  } catch {
    throw new StateDictError('(header)', `is not a JSON object: ${JSON.stringify(text.slice(0, 40))}…`, FIX_READ);
  }
  if (!isRecord(header)) throw new StateDictError('(header)', 'is not a JSON object', FIX_READ);
  const keys = topLevelKeys(text);
  const seen = new Set<string>();
  for (const key of keys) {
    if (seen.has(key)) throw new StateDictError(key, 'appears twice in the header', FIX_READ);
    seen.add(key);
  }

  let metadata: Record<string, string> | undefined;
  const entries: HeaderEntry[] = [];
  for (const key of keys) {
    if (key === METADATA_KEY) metadata = parseMetadata(header[key]);
    else entries.push(parseEntry(key, header[key]));
  }
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  for (const entry of entries) {
    if (entry.begin !== cursor) {
      const problem = entry.begin < cursor ? 'overlaps the previous tensor' : 'leaves a gap after the previous tensor';
      throw new StateDictError(
        `${entry.name}.data_offsets`,
        `starts at ${entry.begin}, so it ${problem} (ending at ${cursor})`,
        FIX_READ,
      );
    }
    cursor = entry.end;
  }
  const dataStart = 8 + headerLength;
  if (dataStart + cursor !== bytes.length) {
    throw new StateDictError('(data)', `is ${bytes.length - dataStart} bytes but the header's offsets cover ${cursor}`, FIX_READ);
  }
  const tensors = new Map<string, SafetensorsTensor>();
  for (const { name, dtype, shape, begin, end } of entries) {
    const numel = (end - begin) / DTYPE_SPECS[dtype].size;
    tensors.set(name, { dtype, shape, data: tensorData(bytes, dataStart + begin, dtype, numel) });
  }
  return { tensors, metadata };
}
