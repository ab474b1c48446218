/** @peftkit/adapters: platform adapters for core's ports — tensor backends and runtime services (Node, Deno, Bun). */
export * from './tensor/index.ts';
export { registerPlatform } from './platform.ts';
export {
  BLAS_INSTALL_HINT,
  type BlasLibrary,
  type BlasStatus,
  blasLibrary,
  blasStatus,
  describeBlas,
  nativeLibraries,
} from './native/blas.ts';
export { detectPlatform } from './runtime/detect.ts';
export { httpListener } from './runtime/listen.ts';
export { shutdownSignals } from './runtime/signals.ts';
export { workerSpawner } from './runtime/workers.ts';
