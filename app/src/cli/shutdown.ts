import { PORTS } from '@peftkit/core';
import { platformScope } from '../compose.ts';

/** Resolves at the first SIGINT or SIGTERM, through the platform's ShutdownSignals port. */
export function untilShutdown(): Promise<void> {
  return new Promise<void>((resolve) => {
    const off = platformScope()
      .resolve(PORTS.ShutdownSignals)
      .onShutdown(() => {
        off();
        resolve();
      });
  });
}
