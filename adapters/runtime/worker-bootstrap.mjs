// Node worker_threads entry: gives the worker the Web Worker globals, registers tsx when the module is TypeScript
// source (loader hooks of the main thread do not reach workers on Node 20), then imports the worker module.
import { parentPort, workerData } from 'node:worker_threads';

const listeners = [];
parentPort.on('message', (data) => {
  for (const listener of listeners) listener({ data });
});
globalThis.postMessage = (message) => parentPort.postMessage(message);
globalThis.addEventListener = (type, listener) => {
  if (type === 'message') listeners.push(listener);
};
if (workerData.module.endsWith('.ts')) {
  try {
    const { register } = await import('tsx/esm/api');
    register();
  } catch {
    // No tsx: the runtime strips types itself (Node ≥ 23).
  }
}
await import(workerData.module);
