import { cpuJs } from '../subjects/cpu-js.js';
import { gpujsSubject } from '../subjects/gpujs.js';
import { scalarJs } from '../subjects/scalar-js.js';
import type { BenchSubject } from '../subjects/subject.js';
import { tfjsSubjects } from '../subjects/tfjs.js';

const SWIFTSHADER = 'SwiftShader: a CPU emulation of the GPU, so this row checks the path runs, not GPU speed';

/** SwiftShader emulates every shader invocation on the CPU: only the 4M `small` shape fits the time budget. */
const EMULATED_LIMIT = {
  maxParams: 4_200_000,
  reason: 'SwiftShader (CPU-emulated GPU) is too slow for 16M+ params within the time budget (run on the 4M small shape)',
};

/** Subjects that run inside the page (bundled into the browser entry); ids as in `BROWSER_SUBJECTS`. */
export function browserSubjects(): BenchSubject[] {
  const emulated = (subjects: BenchSubject[]) =>
    subjects.map((s) => ({ ...s, ...EMULATED_LIMIT, limitReason: EMULATED_LIMIT.reason }));
  return [
    scalarJs,
    cpuJs,
    ...emulated(
      tfjsSubjects(
        'webgl',
        async () => {
          await import('@tensorflow/tfjs-backend-webgl');
        },
        SWIFTSHADER,
      ),
    ),
    ...emulated(
      tfjsSubjects(
        'webgpu',
        async () => {
          await import('@tensorflow/tfjs-backend-webgpu');
        },
        SWIFTSHADER,
      ),
    ),
    gpujsSubject('webgl2', EMULATED_LIMIT, SWIFTSHADER),
    gpujsSubject('webgpu', EMULATED_LIMIT, SWIFTSHADER),
  ];
}
