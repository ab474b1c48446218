/**
 * The engine's composition, imported by the server's worker by URL (functions cannot be posted to a worker): a
 * kernel with platform adapters, every installed first-party method plugin and the extra specifiers asked for.
 */
import type { Kernel, Logger } from '@peftkit/core';
import { loadServerPlugins } from '@peftkit/server';
import { FIRST_PARTY_PLUGINS } from '../cli/discover.ts';
import { createKernel } from '../compose.ts';

export async function createEngineKernel(options: {
  backend?: string;
  plugins?: readonly string[];
  logger: Logger;
}): Promise<Kernel> {
  const kernel = await createKernel({
    ...(options.backend ? { backend: options.backend } : {}),
    logger: options.logger,
  });
  // First-party plugins resolve from this package (as shipped), the extra ones (absolute paths or bare names, see
  // pluginSpecifiers) from the user's working directory, which a worker shares with the process that spawned it.
  await loadServerPlugins(kernel, FIRST_PARTY_PLUGINS, { from: import.meta.url });
  await loadServerPlugins(kernel, options.plugins ?? [], { from: process.cwd() });
  return kernel;
}

/** This module's URL, for EngineOptions.composition. */
export const ENGINE_COMPOSITION: string = import.meta.url;
