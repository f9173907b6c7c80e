import { describe, expect, it } from 'vitest';
import { openGpujsTarget } from './gpujs-target.js';

describe('openGpujsTarget in Node', () => {
  it.each(['cpu', 'webasm'] as const)('opens %s after a probe step', async (mode) => {
    const target = await openGpujsTarget(mode);
    expect(target.id).toBe(`gpujs-${mode}`);
    expect(target.dtypes).toEqual(['float32']);
    await target.close();
  });

  it.each(['webgpu', 'webgl2'] as const)('rejects %s, which Node cannot run, with the reason', async (mode) => {
    await expect(openGpujsTarget(mode)).rejects.toThrow(/not supported|ran its kernels on/);
  });
});
