import { describe, expect, it } from 'vitest';
import { parseCheck, parseReady, parseStepMs } from './native-c-protocol.js';

describe('native-c protocol', () => {
  it('reads the ready line', () => {
    expect(parseReady('{"ready":true,"threads":2,"isa":"sse4.2","params":67108864}')).toEqual({
      threads: 2,
      isa: 'sse4.2',
      params: 67108864,
    });
  });

  it('rejects a ready line that is not one', () => {
    expect(() => parseReady('Segmentation fault')).toThrow(/expected the ready line as one JSON line, got "Segmentation fault"/);
    expect(() => parseReady('{"seconds":1}')).toThrow(/expected \{"ready":true/);
    expect(() => parseReady('{"ready":true,"threads":0,"isa":"avx2","params":1}')).toThrow(
      /"threads" must be a positive integer/,
    );
    expect(() => parseReady('{"ready":true,"threads":1,"isa":"","params":1}')).toThrow(/"isa" must be a name/);
    expect(() => parseReady('[1]')).toThrow(/as a JSON object/);
  });

  it('turns a step time in seconds into milliseconds', () => {
    expect(parseStepMs('{"seconds":0.0915}')).toBeCloseTo(91.5, 10);
    expect(parseStepMs('{"seconds":0}')).toBe(0);
    expect(() => parseStepMs('{"seconds":-1}')).toThrow(/finite number ≥ 0/);
    expect(() => parseStepMs('{"seconds":"fast"}')).toThrow(/finite number ≥ 0/);
    expect(() => parseStepMs('{"ready":true}')).toThrow(/"seconds"/);
  });

  it('reads the check result, checked against the tensor sizes', () => {
    const text = '{"threads":1,"params":[[1],[2,3]],"expAvg":[[0.5],[0,1e-9]],"expAvgSq":[[1],[2,3]]}\n';
    expect(parseCheck(text, [1, 2])).toEqual({
      threads: 1,
      params: [[1], [2, 3]],
      expAvg: [[0.5], [0, 1e-9]],
      expAvgSq: [[1], [2, 3]],
    });
    expect(() => parseCheck(text, [1, 3])).toThrow(/"params" must hold 2 arrays of 1, 3 numbers/);
    expect(() => parseCheck(text.replace('[0.5]', '["x"]'), [1, 2])).toThrow(/"expAvg"/);
  });
});
