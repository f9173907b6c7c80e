import type { PackageName } from './catalog.js';

/** One backend's outcome on this machine, as the recommendation reads it. */
export interface BackendOutcome {
  id: string;
  pkg: PackageName;
  install: string;
  /** Parity scenarios passed and run (run 0: it never ran). */
  parity: { passed: number; total: number };
  /** Params per second of the timed step (undefined: it did not complete). */
  paramsPerSec?: number;
}

/** The package to install here, and why. */
export interface Recommendation {
  backend: string;
  pkg: PackageName;
  install: string;
  reason: string;
}

/** Speeds within this fraction of the fastest are a tie: a short run in a busy tab is that noisy. */
export const TIE_FRACTION = 0.1;

/** In a tie, the package with fewer moving parts: cpu needs no other library, gpu.js is the least common stack. */
const PACKAGE_ORDER: readonly PackageName[] = ['@stable-adamw/cpu', '@stable-adamw/tfjs', '@stable-adamw/gpujs'];

const mps = (x: number) => `${(x / 1e6).toPrecision(3)} M params/s`;
const passedAll = (o: BackendOutcome) => o.parity.total > 0 && o.parity.passed === o.parity.total;

/**
 * The fastest backend that passed every parity scenario and completed the timed step. Backends
 * within {@link TIE_FRACTION} of it tie, and the tie goes to the simpler package (cpu, then tfjs,
 * then gpu.js), then to the faster. The reason names the runner-up (or the tie) and any faster
 * backend left out because it failed parity. Undefined when no backend qualifies.
 */
export function recommend(outcomes: readonly BackendOutcome[]): Recommendation | undefined {
  const timed = outcomes.filter((o) => o.paramsPerSec !== undefined && o.paramsPerSec > 0);
  const eligible = timed.filter(passedAll).sort((a, b) => (b.paramsPerSec as number) - (a.paramsPerSec as number));
  const fastest = eligible[0];
  if (!fastest) return undefined;
  const top = fastest.paramsPerSec as number;
  const tied = eligible.filter((o) => (o.paramsPerSec as number) >= top * (1 - TIE_FRACTION));
  const pick = [...tied].sort((a, b) => PACKAGE_ORDER.indexOf(a.pkg) - PACKAGE_ORDER.indexOf(b.pkg))[0] as BackendOutcome;
  const speed = pick.paramsPerSec as number;
  const parts = [`${pick.id} passed parity (${pick.parity.passed}/${pick.parity.total}) at ${mps(speed)}`];
  const others = tied.filter((o) => o !== pick);
  if (others.length > 0) {
    const list = others.map((o) => `${o.id} (${mps(o.paramsPerSec as number)})`).join(', ');
    const why = others.every((o) => o.pkg === pick.pkg) ? 'the fastest of them' : `${pick.pkg} is the simpler install`;
    parts.push(`; within ${TIE_FRACTION * 100} % of ${list}, a tie on a short run, and ${why}`);
  } else {
    const next = eligible[1];
    parts.push(
      next
        ? `, the fastest that passed: ${(speed / (next.paramsPerSec as number)).toFixed(1)}× the next, ${next.id} (${mps(next.paramsPerSec as number)})`
        : ', the only backend that passed parity and completed the timed step',
    );
  }
  const faster = timed.filter((o) => !passedAll(o) && (o.paramsPerSec as number) > speed);
  if (faster.length > 0) {
    parts.push(
      `. Faster but left out for failing parity: ${faster.map((o) => `${o.id} (${o.parity.passed}/${o.parity.total})`).join(', ')}`,
    );
  }
  return { backend: pick.id, pkg: pick.pkg, install: pick.install, reason: `${parts.join('')}.` };
}
