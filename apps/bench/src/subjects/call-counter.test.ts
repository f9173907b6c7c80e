import { describe, expect, it } from 'vitest';
import { countCalls } from './call-counter.js';

/** Stand-ins for the browser's WebGPU and WebGL classes (the methods live on the prototypes, as in WebIDL). */
function fakeScope() {
  class GPUComputePassEncoder {
    dispatchWorkgroups(x: number): number {
      return x * 2;
    }
  }
  class GPUQueue {
    submit(): void {}
  }
  class WebGL2RenderingContext {
    drawElements(): void {}
    drawArrays(): void {}
  }
  return { GPUComputePassEncoder, GPUQueue, WebGL2RenderingContext };
}

describe('countCalls', () => {
  it('counts WebGPU dispatches and submits from every instance, and take() restarts the counts', () => {
    const scope = fakeScope();
    const original = scope.GPUComputePassEncoder.prototype.dispatchWorkgroups;
    const counter = countCalls('webgpu-dispatch', scope);
    const pass = new scope.GPUComputePassEncoder();
    const queue = new scope.GPUQueue();
    // The wrapped method still returns what the original does.
    expect(pass.dispatchWorkgroups(4)).toBe(8);
    new scope.GPUComputePassEncoder().dispatchWorkgroups(1);
    queue.submit();
    expect(counter.take()).toEqual({ unit: 'webgpu-dispatch', dispatches: 2, submits: 1 });
    expect(counter.take()).toEqual({ unit: 'webgpu-dispatch', dispatches: 0, submits: 0 });
    counter.uninstall();
    expect(scope.GPUComputePassEncoder.prototype.dispatchWorkgroups).toBe(original);
    pass.dispatchWorkgroups(1);
    expect(counter.take().dispatches).toBe(0);
  });

  it('counts WebGL draw calls of whichever context classes exist, and nothing of WebGPU', () => {
    const scope = fakeScope();
    const counter = countCalls('webgl-draw', scope);
    const gl = new scope.WebGL2RenderingContext();
    gl.drawElements();
    gl.drawArrays();
    new scope.GPUQueue().submit();
    expect(counter.take()).toEqual({ unit: 'webgl-draw', dispatches: 2 });
    counter.uninstall();
  });

  it('counts nothing where the API is missing (Node)', () => {
    const counter = countCalls('webgpu-dispatch', {});
    expect(counter.take()).toEqual({ unit: 'webgpu-dispatch', dispatches: 0, submits: 0 });
    counter.uninstall();
  });
});
