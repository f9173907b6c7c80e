import { conformanceCases } from '@stable-adamw/conformance';
import { describe, it } from 'vitest';
import { cpuTarget } from './testing/cpu-target.js';

describe('cpu adapter conformance (16-bit as Uint16Array bits)', () => {
  for (const c of conformanceCases(cpuTarget('bits'))) it(c.name, c.run);
});

describe.runIf('Float16Array' in globalThis)('cpu adapter conformance (native Float16Array)', () => {
  for (const c of conformanceCases(cpuTarget('native'))) it(c.name, c.run);
});
