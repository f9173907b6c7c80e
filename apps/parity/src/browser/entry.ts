import { measureBackend } from '../measure-backend.js';
import type { BackendStatus, ParityResult } from '../report.js';
import { browserBackends } from './backends.js';
import type { BrowserFinal } from './protocol.js';

// The page's side of the browser runner: runs the requested backends here and streams results back.
window.stableAdamWParity = {
  async run(ids, options) {
    const statuses: BackendStatus[] = [];
    const finals: BrowserFinal[] = [];
    const collected: ParityResult[] = [];
    for (const backend of browserBackends().filter((b) => ids.includes(b.id))) {
      let target: Awaited<ReturnType<typeof backend.open>>;
      try {
        target = await backend.open();
      } catch (error) {
        statuses.push({
          id: backend.id,
          available: false,
          environment: 'chromium',
          reason: error instanceof Error ? error.message : String(error),
        });
        continue;
      }
      statuses.push({ id: backend.id, available: true, environment: 'chromium' });
      try {
        const results = await measureBackend(backend.id, backend.dtype, target, options, (result) => {
          collected.push(result);
          void window.parityResult(result);
        });
        for (const f of results) finals.push({ ...f, params: f.params.map((p) => Array.from(p)) });
      } finally {
        await backend.close?.();
      }
    }
    return { backends: statuses, results: collected, finals };
  },
};
