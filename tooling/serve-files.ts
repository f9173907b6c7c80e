import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

const TYPES: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.wasm': 'application/wasm',
  '.map': 'application/json',
};

/**
 * A loopback HTTP server for a fixed set of files (url path → file path, or inline content). Pages
 * are cross-origin isolated (COOP/COEP), so SharedArrayBuffer and shared WebAssembly memory work.
 */
export async function serveFiles(
  files: Record<string, string | { body: string }>,
): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const file = files[path];
    if (!file) {
      res.writeHead(404).end();
      return;
    }
    const ext = typeof file === 'string' ? path.slice(path.lastIndexOf('.')) : '.html';
    res.writeHead(200, {
      'content-type': TYPES[ext] ?? 'application/octet-stream',
      'cross-origin-opener-policy': 'same-origin',
      'cross-origin-embedder-policy': 'require-corp',
    });
    res.end(typeof file === 'string' ? readFileSync(file) : file.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
