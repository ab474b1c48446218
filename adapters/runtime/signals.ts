import type { PlatformInfo, ShutdownSignals } from '@peftkit/core';

interface DenoSignals {
  addSignalListener(signal: string, handler: () => void): void;
  removeSignalListener(signal: string, handler: () => void): void;
}

/**
 * SIGINT / SIGTERM: Deno's own signal API on Deno (its node-compat listeners do not stop the default exit),
 * process signals elsewhere.
 */
export function shutdownSignals(platform: PlatformInfo): ShutdownSignals {
  const signals = ['SIGINT', 'SIGTERM'] as const;
  return {
    onShutdown(handler) {
      if (platform.runtime === 'deno') {
        const deno = (globalThis as unknown as { Deno: DenoSignals }).Deno;
        for (const s of signals) deno.addSignalListener(s, handler);
        return () => {
          for (const s of signals) deno.removeSignalListener(s, handler);
        };
      }
      for (const s of signals) process.on(s, handler);
      return () => {
        for (const s of signals) process.off(s, handler);
      };
    },
  };
}
