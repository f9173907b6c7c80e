import { describe, expect, it } from 'vitest';
import { barChart } from './chart.js';

describe('barChart', () => {
  it('scales bars to the fastest, marks parity failures and untimed backends', () => {
    const svg = barChart(
      [
        { label: 'tfjs-webgpu', value: 200, pass: true },
        { label: 'cpu-wasm', value: 50, pass: false },
        { label: 'gpujs-webgl2', pass: true },
      ],
      'M params/s',
    );
    // 600 wide, 150 of labels, 130 kept for the caption: the fastest bar is 320, a quarter of it 80.
    expect(svg).toContain('width="320.0"');
    expect(svg).toContain('width="80.0"');
    expect(svg).toContain('class="bar-fail"');
    expect(svg).toContain('50.0 M/s · parity FAIL');
    expect(svg).toContain('>not timed<');
    expect(svg.match(/<rect/g)).toHaveLength(2);
    expect(svg).toContain('viewBox="0 0 600 86"');
  });

  it('escapes labels', () => {
    expect(barChart([{ label: '<b>&"', value: 1, pass: true }], "a'b")).toContain('&lt;b&gt;&amp;&quot;');
    expect(barChart([], "a'b")).toContain('aria-label="a&#39;b"');
  });
});
