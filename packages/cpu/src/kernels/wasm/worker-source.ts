import { COMMAND, CONTROL, CONTROL_WORDS, KERNEL_EXPORT } from './layout.js';

/**
 * The worker's code, evaluated as a classic script in a Node worker (`eval: true`, where `require`
 * exists) or a browser Worker (from a Blob URL). It instantiates the shared kernel module over the
 * shared memory, reports `ready`, then blocks on the control block: for each new generation it
 * takes blocks one at a time until none are left and counts itself done. Which worker ran which
 * block does not matter: results are written per block.
 */
export const WORKER_SOURCE = `'use strict';
const port = typeof require === 'function' ? require('node:worker_threads').parentPort : self;
const C = ${JSON.stringify(CONTROL)};
const STOP = ${COMMAND.stop};
const EXPORT = ${JSON.stringify(KERNEL_EXPORT)};
function start({ module, memory, control, threads }) {
  WebAssembly.instantiate(module, { env: { memory } }).then((instance) => {
    const k = instance.exports;
    const c = new Int32Array(memory.buffer, control, ${CONTROL_WORDS});
    const run = (command, b) => {
      const kernel = k[EXPORT[command]];
      if (command % 2 === 1) kernel(c[C.table], c[C.blocks], c[C.partials], b, b + 1);
      else kernel(c[C.table], c[C.blocks], b, b + 1);
    };
    let generation = Atomics.load(c, C.generation);
    port.postMessage('ready');
    for (;;) {
      Atomics.wait(c, C.generation, generation);
      generation = Atomics.load(c, C.generation);
      const command = Atomics.load(c, C.command);
      if (command === STOP) return;
      const count = c[C.blockCount];
      for (let b = Atomics.add(c, C.next, 1); b < count; b = Atomics.add(c, C.next, 1)) run(command, b);
      if (Atomics.add(c, C.done, 1) + 1 === threads) Atomics.notify(c, C.done);
    }
  }, (error) => port.postMessage({ error: String(error) }));
}
if (typeof require === 'function') port.once('message', start);
else self.onmessage = (event) => start(event.data);
`;
