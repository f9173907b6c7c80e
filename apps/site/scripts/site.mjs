// @ts-check
// `npm run site`: serves the built page on loopback, cross-origin isolated, and prints its URL.
//   node scripts/site.mjs [--port <n>]   (default 4173; PORT works too; a busy port falls back to a free one)
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { serveDirectory } from './static-server.mjs';

const dist = fileURLToPath(new URL('../dist/', import.meta.url));
if (!existsSync(`${dist}index.html`)) {
  console.error(
    'apps/site is not built: run `npm run site` from the repository root (it builds first), or\n' +
      '`npx turbo run build --filter=@stable-adamw/site...` and then this again.',
  );
  process.exit(1);
}

const { values } = parseArgs({ options: { port: { type: 'string', default: process.env.PORT ?? '4173' } } });
const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`--port must be a whole number from 0 to 65535. Received: ${values.port}`);
  process.exit(1);
}

let site;
try {
  site = await serveDirectory(dist, { port });
} catch (error) {
  if (/** @type {NodeJS.ErrnoException} */ (error).code !== 'EADDRINUSE') throw error;
  console.error(`port ${port} is in use; serving on a free port instead`);
  site = await serveDirectory(dist);
}
console.log(`stable-adamw site: ${site.url}  (loopback only, cross-origin isolated; Ctrl+C stops it)`);
const stop = () => void site.close().then(() => process.exit(0));
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
