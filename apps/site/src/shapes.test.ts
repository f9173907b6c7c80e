import { describe, expect, it } from 'vitest';
import { chosenShape, MAX_CUSTOM_PARAMS, parseTensorList, ShapeListError } from './shapes.js';

describe('parseTensorList', () => {
  it('reads matrices, vectors and k/M sizes in any separator', () => {
    expect(parseTensorList('4096x4096, 1024')).toEqual([16_777_216, 1024]);
    expect(parseTensorList(' 3×5 ;7\n2*3*4 , 8k, 1M ')).toEqual([15, 7, 24, 8192, 1_048_576]);
  });

  it('names the bad tensor and dimension', () => {
    expect(() => parseTensorList('64x0')).toThrow(/Tensor "64x0" has the dimension "0"/);
    expect(() => parseTensorList('12, 3.5')).toThrow(/Tensor "3.5" has the dimension "3.5"/);
    expect(() => parseTensorList('4096x')).toThrow(ShapeListError);
  });

  it('refuses an empty list and one over the memory budget', () => {
    expect(() => parseTensorList(' , \n')).toThrow(/empty/);
    expect(parseTensorList(`${MAX_CUSTOM_PARAMS}`)).toEqual([MAX_CUSTOM_PARAMS]);
    expect(() => parseTensorList(`${MAX_CUSTOM_PARAMS}, 1`)).toThrow(/has 67,108,865 params: at most 67,108,864 \(64M\)/);
  });
});

describe('chosenShape', () => {
  it('gives the presets and the typed list', () => {
    expect(chosenShape('tiny').tensors).toEqual(Array(32).fill(512));
    expect(chosenShape('small').tensors.reduce((a, b) => a + b)).toBe(512 * 8192);
    // 8192×512 embedding; per layer QKV 3w², attention out w², MLP 4w² + 4w², biases 3w + w + 4w + w and
    // two norm scales 2w (11w); a final 512 norm.
    expect(chosenShape('llm').tensors.reduce((a, b) => a + b)).toBe(8192 * 512 + 4 * (12 * 512 * 512 + 11 * 512) + 512);
    expect(chosenShape('custom', '2x3, 4')).toMatchObject({ tensors: [6, 4], description: 'custom: 10 in 2 tensors' });
  });
});
