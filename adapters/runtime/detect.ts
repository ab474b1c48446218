import type { PlatformInfo } from '@peftkit/core';

interface RuntimeGlobals {
  Deno?: { version: { deno: string } };
  Bun?: { version: string };
  process?: { versions?: { node?: string } };
}

/** The one place peftkit looks at which JavaScript runtime it runs on. */
export function detectPlatform(): PlatformInfo {
  const g = globalThis as unknown as RuntimeGlobals;
  if (g.Deno) return { runtime: 'deno', version: g.Deno.version.deno };
  if (g.Bun) return { runtime: 'bun', version: g.Bun.version };
  return { runtime: 'node', version: g.process?.versions?.node ?? 'unknown' };
}
