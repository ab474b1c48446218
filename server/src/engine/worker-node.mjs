// Node entry of the engine worker. Loader hooks that `node --import tsx` installed in the main thread do not reach
// worker threads on Node 20, so register tsx here before loading the TypeScript entry.
try {
  const { register } = await import('tsx/esm/api');
  register();
} catch {
  // No tsx: the runtime strips types itself (Node ≥ 23) or the sources were compiled.
}
await import('./worker-main.ts');
