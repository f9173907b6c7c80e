import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { StateDictError } from './errors.js';
import { readSafetensors, type SafetensorsData, type SafetensorsTensor, writeSafetensors } from './safetensors.js';

const ascii = (s: string) => Array.from(s, (c) => c.charCodeAt(0));
const u64 = (n: number) => [n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, (n >> 24) & 0xff, 0, 0, 0, 0];
const f32Bytes = (...xs: number[]) => [...new Uint8Array(Float32Array.from(xs).buffer)];
const headerText = (bytes: Uint8Array) => new TextDecoder().decode(bytes.subarray(8, 8 + headerLengthOf(bytes)));
const headerLengthOf = (bytes: ArrayLike<number>) =>
  ((bytes[0] ?? 0) | ((bytes[1] ?? 0) << 8) | ((bytes[2] ?? 0) << 16)) + (bytes[3] ?? 0) * 2 ** 24;

/** A file assembled by hand: header text (padded to 8 bytes with spaces) and raw data bytes. */
function file(header: string, data: number[] = []): Uint8Array {
  const padded = header.padEnd(Math.ceil(header.length / 8) * 8, ' ');
  return Uint8Array.from([...u64(padded.length), ...ascii(padded), ...data]);
}

function errorOf(fn: () => unknown): StateDictError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(StateDictError);
    return error as StateDictError;
  }
  throw new Error('expected a StateDictError');
}

describe('writeSafetensors', () => {
  // Byte vectors from the reference implementation's own tests (huggingface/safetensors,
  // safetensors/src/tensor.rs: test_serialization, test_serialization_forced_alignement, test_empty).
  it("writes the reference implementation's bytes", () => {
    const data = Float32Array.of(0, 1, 2, 3, 4, 5);
    expect([...writeSafetensors({ 'attn.0': { dtype: 'F32', shape: [1, 2, 3], data } })]).toEqual([
      64, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 46, 48, 34, 58, 123, 34, 100, 116, 121, 112, 101, 34, 58, 34, 70, 51,
      50, 34, 44, 34, 115, 104, 97, 112, 101, 34, 58, 91, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97, 116, 97, 95, 111, 102, 102,
      115, 101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, 0, 0, 0, 0, 0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0,
      128, 64, 0, 0, 160, 64,
    ]);
    expect([...writeSafetensors({ attn0: { dtype: 'F32', shape: [1, 1, 2, 3], data } })]).toEqual([
      72, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 48, 34, 58, 123, 34, 100, 116, 121, 112, 101, 34, 58, 34, 70, 51, 50,
      34, 44, 34, 115, 104, 97, 112, 101, 34, 58, 91, 49, 44, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97, 116, 97, 95, 111, 102, 102,
      115, 101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, 32, 32, 32, 32, 32, 32, 32, 0, 0, 0, 0, 0, 0, 128, 63, 0, 0,
      0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64,
    ]);
    expect([...writeSafetensors({})]).toEqual([8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32]);
    expect([...writeSafetensors({}, { framework: 'pt' })]).toEqual([
      40, 0, 0, 0, 0, 0, 0, 0, 123, 34, 95, 95, 109, 101, 116, 97, 100, 97, 116, 97, 95, 95, 34, 58, 123, 34, 102, 114, 97, 109,
      101, 119, 111, 114, 107, 34, 58, 34, 112, 116, 34, 125, 125, 32, 32, 32, 32, 32,
    ]);
  });

  it('orders tensors by descending dtype alignment, then by name, so each one is aligned', () => {
    const bytes = writeSafetensors(
      new Map<string, SafetensorsTensor>([
        ['b', { dtype: 'F32', shape: [1], data: Float32Array.of(1) }],
        ['a', { dtype: 'F16', shape: [3], data: Uint16Array.of(1, 2, 3) }],
        ['z', { dtype: 'F64', shape: [], data: Float64Array.of(2) }],
        ['d', { dtype: 'I64', shape: [1], data: BigInt64Array.of(7n) }],
        ['e', { dtype: 'BF16', shape: [1], data: Uint16Array.of(0x3f80) }],
        ['c', { dtype: 'F32', shape: [2], data: Float32Array.of(2, 3) }],
      ]),
    );
    const { tensors } = readSafetensors(bytes);
    expect([...tensors.keys()]).toEqual(['d', 'z', 'b', 'c', 'e', 'a']);
    expect(headerLengthOf(bytes) % 8).toBe(0);
    const header = JSON.parse(headerText(bytes));
    expect(header.d.data_offsets).toEqual([0, 8]);
    expect(header.z.data_offsets).toEqual([8, 16]);
    expect(header.b.data_offsets).toEqual([16, 20]);
    expect(header.c.data_offsets).toEqual([20, 28]);
    expect(header.e.data_offsets).toEqual([28, 30]);
    expect(header.a.data_offsets).toEqual([30, 36]);
  });

  it('keeps integer-like names in order (no JS object key reordering)', () => {
    const t = (x: number): SafetensorsTensor => ({ dtype: 'F32', shape: [1], data: Float32Array.of(x) });
    const bytes = writeSafetensors({ b: t(1), '10': t(2), '2': t(3) });
    const text = headerText(bytes);
    expect(text.indexOf('"10"')).toBeLessThan(text.indexOf('"2"'));
    expect(text.indexOf('"2"')).toBeLessThan(text.indexOf('"b"'));
  });

  it.each([
    ['an unknown dtype', { x: { dtype: 'F8', shape: [1], data: Float32Array.of(1) } }, 'tensors["x"].dtype'],
    ['a negative dimension', { x: { dtype: 'F32', shape: [-1], data: Float32Array.of(1) } }, 'tensors["x"].shape'],
    ['the wrong typed array', { x: { dtype: 'F32', shape: [1], data: Float64Array.of(1) } }, 'tensors["x"].data'],
    ['a length differing from the shape', { x: { dtype: 'F32', shape: [2], data: Float32Array.of(1) } }, 'tensors["x"].data'],
    ['the reserved name', { __metadata__: { dtype: 'F32', shape: [1], data: Float32Array.of(1) } }, 'tensors["__metadata__"]'],
  ])('refuses %s with a typed error', (_, tensors, path) => {
    const error = errorOf(() => writeSafetensors(tensors as unknown as Record<string, SafetensorsTensor>));
    expect(error.path).toBe(path);
    expect(error.code).toBe('invalid_state_dict');
  });

  it('refuses non-string metadata', () => {
    expect(errorOf(() => writeSafetensors({}, { a: 1 as unknown as string })).path).toBe('__metadata__.a');
  });
});

describe('readSafetensors', () => {
  it('reads a hand-assembled file: values, shapes, metadata', () => {
    const bytes = file(
      '{"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},' +
        '"h":{"dtype":"BF16","shape":[1,1],"data_offsets":[8,10]}}',
      [...f32Bytes(1.5, -2), 0x80, 0x3f],
    );
    const { tensors, metadata } = readSafetensors(bytes);
    expect(metadata).toEqual({ format: 'pt' });
    expect(tensors.get('w')).toEqual({ dtype: 'F32', shape: [2], data: Float32Array.of(1.5, -2) });
    expect(tensors.get('h')).toEqual({ dtype: 'BF16', shape: [1, 1], data: Uint16Array.of(0x3f80) });
  });

  it('reads tensors in any header order and any padding, and I64 / F64 values', () => {
    const i64 = [...new Uint8Array(BigInt64Array.of(-3n).buffer)];
    const f64 = [...new Uint8Array(Float64Array.of(Math.PI).buffer)];
    const bytes = file(
      '{"b":{"dtype":"F64","shape":[],"data_offsets":[8,16]},"a":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}     ',
      [...i64, ...f64],
    );
    const { tensors, metadata } = readSafetensors(bytes);
    expect(metadata).toBeUndefined();
    expect([...tensors.keys()]).toEqual(['a', 'b']);
    expect(tensors.get('a')?.data).toEqual(BigInt64Array.of(-3n));
    expect(tensors.get('b')?.data).toEqual(Float64Array.of(Math.PI));
  });

  it('returns views into the bytes when aligned and copies otherwise', () => {
    const bytes = writeSafetensors({ x: { dtype: 'F64', shape: [2], data: Float64Array.of(1, 2) } });
    const view = readSafetensors(bytes).tensors.get('x')?.data as SafetensorsData;
    expect(view.buffer).toBe(bytes.buffer);
    const shifted = new Uint8Array(bytes.length + 1).subarray(1);
    shifted.set(bytes);
    const copy = readSafetensors(shifted).tensors.get('x')?.data as SafetensorsData;
    expect(copy.buffer).not.toBe(shifted.buffer);
    expect(copy).toEqual(Float64Array.of(1, 2));
  });

  const tensor = (dtype: string, shape: string, offsets: string) =>
    `{"dtype":"${dtype}","shape":${shape},"data_offsets":${offsets}}`;
  it.each([
    ['fewer than 8 bytes', Uint8Array.of(1, 2, 3), '(header length)'],
    ['a header length past the end', Uint8Array.from([...u64(64), ...ascii('{}      ')]), '(header length)'],
    ['a header length above 100 MB', Uint8Array.from([0, 0, 0, 0, 1, 0, 0, 0]), '(header length)'],
    ['a non-JSON header', file('{"a": nope}'), '(header)'],
    ['a JSON array header', file('[1, 2]'), '(header)'],
    ['invalid UTF-8', Uint8Array.from([...u64(8), 0x7b, 0xff, 0x7d, 32, 32, 32, 32, 32]), '(header)'],
    ['a duplicate name', file(`{"a":${tensor('F32', '[1]', '[0,4]')},"a":${tensor('F32', '[1]', '[0,4]')}}`, f32Bytes(1)), 'a'],
    ['an unknown dtype', file(`{"a":${tensor('F7', '[1]', '[0,4]')}}`, f32Bytes(1)), 'a.dtype'],
    ['an unsupported dtype', file(`{"a":${tensor('I32', '[1]', '[0,4]')}}`, f32Bytes(1)), 'a.dtype'],
    ['a shape not matching the byte length', file(`{"a":${tensor('F32', '[2]', '[0,4]')}}`, f32Bytes(1)), 'a.data_offsets'],
    ['a fractional dimension', file(`{"a":${tensor('F32', '[0.5]', '[0,4]')}}`, f32Bytes(1)), 'a.shape'],
    ['reversed offsets', file(`{"a":${tensor('F32', '[1]', '[4,0]')}}`, f32Bytes(1)), 'a.data_offsets'],
    ['offsets past the end', file(`{"a":${tensor('F32', '[1]', '[0,4]')}}`, []), '(data)'],
    ['trailing bytes', file(`{"a":${tensor('F32', '[1]', '[0,4]')}}`, [...f32Bytes(1), 0]), '(data)'],
    [
      'overlapping offsets',
      file(`{"a":${tensor('F32', '[2]', '[0,8]')},"b":${tensor('F32', '[1]', '[4,8]')}}`, f32Bytes(1, 2)),
      'b.data_offsets',
    ],
    [
      'a gap between tensors',
      file(`{"a":${tensor('F32', '[1]', '[0,4]')},"b":${tensor('F32', '[1]', '[8,12]')}}`, f32Bytes(1, 2, 3)),
      'b.data_offsets',
    ],
    ['a first tensor not at 0', file(`{"a":${tensor('F32', '[1]', '[4,8]')}}`, f32Bytes(1, 2)), 'a.data_offsets'],
    ['non-string metadata', file('{"__metadata__":{"a":1}}'), '__metadata__.a'],
    ['an entry that is not an object', file('{"a":[1]}'), 'a'],
  ])('refuses %s with a typed error', (_, bytes, path) => {
    const error = errorOf(() => readSafetensors(bytes));
    expect(error.path).toBe(path);
    expect(error.message).toContain('safetensors');
  });

  it('fuzz: a mutated file gives a StateDictError or a result that re-encodes to itself', () => {
    const dtypes = ['F64', 'F32', 'BF16', 'F16', 'I64'] as const;
    const tensorArb = fc
      .record({
        dtype: fc.constantFrom(...dtypes),
        shape: fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 3 }),
        seed: fc.integer(),
      })
      .map(({ dtype, shape, seed }): SafetensorsTensor => {
        const n = shape.reduce((a, b) => a * b, 1);
        const values = Array.from({ length: n }, (_, i) => ((seed + i * 7919) % 1000) / 7);
        const data =
          dtype === 'F64'
            ? Float64Array.from(values)
            : dtype === 'F32'
              ? Float32Array.from(values)
              : dtype === 'I64'
                ? BigInt64Array.from(values, (v) => BigInt(Math.round(v)))
                : Uint16Array.from(values, (v) => Math.round(v * 50) & 0xffff);
        return { dtype, shape, data };
      });
    const fileArb = fc.record({
      tensors: fc.dictionary(fc.string({ minLength: 1, maxLength: 6 }), tensorArb, { maxKeys: 4 }),
      metadata: fc.option(fc.dictionary(fc.string({ maxLength: 4 }), fc.string({ maxLength: 6 }), { maxKeys: 2 }), {
        nil: undefined,
      }),
    });
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
      fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
      fc.record({
        kind: fc.constant('header' as const),
        at: fc.nat(),
        value: fc.constantFrom(...ascii('{}[]",:0123456789 '), ...ascii('FBI')),
      }),
    );
    let accepted = 0;
    fc.assert(
      fc.property(fileArb, fc.array(mutation, { minLength: 1, maxLength: 3 }), ({ tensors, metadata }, mutations) => {
        const clean = { ...tensors };
        delete clean.__metadata__;
        let bytes = Array.from(writeSafetensors(clean, metadata));
        for (const m of mutations) {
          const headerEnd = 8 + headerLengthOf(bytes);
          if (m.kind === 'flip') bytes[m.at % bytes.length] = m.value;
          else if (m.kind === 'truncate') bytes = bytes.slice(0, m.at % (bytes.length + 1));
          else if (m.kind === 'insert') bytes.splice(m.at % (bytes.length + 1), 0, m.value);
          else if (headerEnd > 8 && headerEnd <= bytes.length) bytes[8 + (m.at % (headerEnd - 8))] = m.value;
        }
        let parsed: ReturnType<typeof readSafetensors>;
        try {
          parsed = readSafetensors(Uint8Array.from(bytes));
        } catch (error) {
          if (error instanceof StateDictError) return;
          throw error;
        }
        accepted++;
        const again = readSafetensors(writeSafetensors(parsed.tensors, parsed.metadata));
        expect(again.metadata).toEqual(parsed.metadata);
        expect(new Map([...again.tensors].sort(([a], [b]) => (a < b ? -1 : 1)))).toEqual(
          new Map([...parsed.tensors].sort(([a], [b]) => (a < b ? -1 : 1))),
        );
      }),
      { numRuns: 3000, seed: 20_240_516 },
    );
    // Some mutations (a flipped data byte, a changed digit in a name) leave a valid file: both branches run.
    expect(accepted).toBeGreaterThan(20);
    console.info(`fuzz: ${accepted} of 3000 mutated files parsed, the rest were refused with a StateDictError`);
  });

  it('round-trips random files exactly (bits, shapes, metadata)', () => {
    fc.assert(
      fc.property(
        fc.dictionary(
          fc.string({ minLength: 1, maxLength: 8 }).filter((s) => s !== '__metadata__'),
          fc.float32Array({ maxLength: 6 }),
          { maxKeys: 5 },
        ),
        (arrays) => {
          const tensors = Object.fromEntries(
            Object.entries(arrays).map(([k, data]): [string, SafetensorsTensor] => [
              k,
              { dtype: 'F32', shape: [data.length], data },
            ]),
          );
          const back = readSafetensors(writeSafetensors(tensors)).tensors;
          expect(back.size).toBe(Object.keys(tensors).length);
          for (const [k, t] of Object.entries(tensors)) {
            const got = back.get(k) as SafetensorsTensor;
            expect(new Uint8Array(got.data.buffer, got.data.byteOffset, got.data.byteLength)).toEqual(
              new Uint8Array(t.data.buffer),
            );
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
