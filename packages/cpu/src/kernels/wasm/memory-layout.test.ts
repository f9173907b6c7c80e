import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  assemblyConstant,
  layOut,
  type RecordDefinition,
  renderAssemblyScript,
  renderTypeScript,
} from '../../../scripts/memory-layout.mjs';
import { BLOCK, BLOCK_BYTES, DESC, DESC_BYTES } from './generated/memory-layout.js';
import { instantiateKernel, kernelModule } from './kernel-module.js';
import definition from './memory-layout.json' with { type: 'json' };

const records = layOut(definition as { records: RecordDefinition[] });
const host = { DESC: { offsets: DESC, bytes: DESC_BYTES }, BLOCK: { offsets: BLOCK, bytes: BLOCK_BYTES } };
const SIZES = { u32: 4, f32: 4, f64: 8 };

describe('memory layout (memory-layout.json → host and kernel)', () => {
  it('lays every record out with naturally aligned, non-overlapping fields', () => {
    for (const record of records) {
      let end = 0;
      for (const field of record.fields) {
        expect(field.offset % SIZES[field.type], `${record.name}.${field.name}`).toBe(0);
        expect(field.offset, `${record.name}.${field.name}`).toBeGreaterThanOrEqual(end);
        end = field.offset + SIZES[field.type];
      }
      expect(record.bytes % 16).toBe(0);
      expect(record.bytes).toBeGreaterThanOrEqual(end);
    }
  });

  it('the generated TypeScript and AssemblyScript modules are current', () => {
    const generated = (path: string) => readFileSync(new URL(path, import.meta.url), 'utf8');
    expect(generated('./generated/memory-layout.ts')).toBe(renderTypeScript(records));
    expect(generated('./assembly/generated/memory-layout.ts')).toBe(renderAssemblyScript(records));
  });

  it.each([false, true])('the compiled kernel (shared memory: %s) exports the offsets the host writes at', async (shared) => {
    const module = await kernelModule(shared);
    if (!module) throw new Error('this runtime has no WebAssembly SIMD');
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 1, ...(shared ? { shared: true } : {}) });
    const exported = (await instantiateKernel(module, memory)) as unknown as Record<string, WebAssembly.Global>;
    for (const record of records) {
      const { offsets, bytes } = host[record.name as keyof typeof host];
      expect(Object.keys(offsets)).toEqual(record.fields.map((f) => f.name));
      for (const field of record.fields) {
        const constant = assemblyConstant(record, field);
        expect(exported[constant]?.value, constant).toBe(offsets[field.name as keyof typeof offsets]);
        expect(offsets[field.name as keyof typeof offsets], `${record.name}.${field.name}`).toBe(field.offset);
      }
      expect(exported[`${record.name}_BYTES`]?.value).toBe(bytes);
    }
  });
});
