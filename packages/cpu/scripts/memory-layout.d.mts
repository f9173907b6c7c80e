/** A record of memory-layout.json: its fields in order, with their AssemblyScript naming. */
export interface RecordDefinition {
  readonly name: string;
  readonly assemblyPrefix: string;
  readonly doc: string;
  readonly fields: readonly { readonly name: string; readonly type: 'u32' | 'f32' | 'f64'; readonly doc: string }[];
}

/** A record laid out: each field's byte offset, and the record's size padded to 16 bytes. */
export interface LaidOutRecord extends RecordDefinition {
  readonly fields: readonly (RecordDefinition['fields'][number] & { readonly offset: number })[];
  readonly bytes: number;
}

export function assemblyConstant(record: RecordDefinition, field: RecordDefinition['fields'][number]): string;
export function layOut(definition: { readonly records: readonly RecordDefinition[] }): LaidOutRecord[];
export function renderTypeScript(records: readonly LaidOutRecord[]): string;
export function renderAssemblyScript(records: readonly LaidOutRecord[]): string;
