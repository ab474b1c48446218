// Node worker_threads entry: gives the worker the Web Worker globals, registers tsx when the module is TypeScript
// source (loader hooks of the main thread do not reach workers on Node 20), then imports the worker module.
// A TypeScript worker module means a source checkout: the workspace packages must resolve to src/ too (the
// `peftkit:source` export condition), as in the parent; compiled workers (dist/*.js) resolve the packages' dist/.
import { register as registerHooks } from 'node:module';
import { parentPort, workerData } from 'node:worker_threads';

// Messages that arrive before the module has added its listener (the parent posts right after spawning) are kept
// and delivered to the first listener, as a Web Worker's queue would.
const listeners = [];
const early = [];
parentPort.on('message', (data) => {
  if (listeners.length === 0) early.push(data);
  for (const listener of listeners) listener({ data });
});
globalThis.postMessage = (message) => parentPort.postMessage(message);
// A Web Worker's self.close() ends it; here that is an exit the parent sees (code 70: the worker chose to stop).
globalThis.close = () => process.exit(70);
globalThis.addEventListener = (type, listener) => {
  if (type !== 'message') return;
  listeners.push(listener);
  for (const data of early.splice(0)) listener({ data });
};
if (workerData.module.endsWith('.ts')) {
  const hook =
    'export function resolve(s, c, next) { ' +
    'return next(s, { ...c, conditions: ["peftkit:source", ...c.conditions] }); }';
  registerHooks(`data:text/javascript,${encodeURIComponent(hook)}`);
  try {
    const { register } = await import('tsx/esm/api');
    register();
  } catch {
    // No tsx: the runtime strips types itself (Node ≥ 23).
  }
}
await import(workerData.module);
