import { PORTS, type Scope } from '@peftkit/core';
import { nativeLibraries } from './native/blas.ts';
import { detectPlatform } from './runtime/detect.ts';
import { httpListener } from './runtime/listen.ts';
import { shutdownSignals } from './runtime/signals.ts';
import { workerSpawner } from './runtime/workers.ts';
import { defaultTensorBackends } from './tensor/index.ts';

/** Registers this runtime's platform adapters for core's ports. Called once, by the composition root. */
export function registerPlatform(scope: Scope): Scope {
  const platform = detectPlatform();
  scope.provideValue(PORTS.Platform, platform);
  scope.provideValue(PORTS.TensorBackends, defaultTensorBackends);
  scope.provideValue(PORTS.HttpListener, httpListener(platform));
  scope.provideValue(PORTS.WorkerSpawner, workerSpawner(platform));
  scope.provideValue(PORTS.ShutdownSignals, shutdownSignals(platform));
  // The machine's BLAS (loaded on first list() or wasm kernel install), for diagnostics such as `peftkit doctor`.
  scope.provideValue(PORTS.NativeLibraries, nativeLibraries);
  return scope;
}
