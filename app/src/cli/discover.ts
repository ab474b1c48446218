import type { Kernel } from '@peftkit/core';
import type { MethodPlugin } from '@peftkit/core';
import { validatePluginObject } from '@peftkit/core';

/** First-party method plugins, loaded when installed. Third-party ones come from --plugin or PEFTKIT_PLUGINS. */
export const FIRST_PARTY_PLUGINS = [
  '@peftkit/lora',
  '@peftkit/qlora',
  '@peftkit/bottleneck',
  '@peftkit/prompt-tuning',
  '@peftkit/p-tuning',
  '@peftkit/prefix-tuning',
  '@peftkit/p-tuning-v2',
  '@peftkit/full',
];

function isMissingModule(error: unknown, specifier: string): boolean {
  const e = error as { code?: string; message?: string };
  const text = e?.message ?? '';
  return (e?.code === 'ERR_MODULE_NOT_FOUND' || /Cannot find (module|package)|not found|Module not found/i.test(text)) && text.includes(specifier);
}

/**
 * Registers every installed first-party plugin and the given third-party specifiers, in dependency order.
 * Returns what could not be loaded (missing first-party packages are silently skipped).
 */
export async function loadPlugins(kernel: Kernel, extra: readonly string[] = []): Promise<{ loaded: MethodPlugin[] }> {
  const found: MethodPlugin[] = [];
  for (const specifier of FIRST_PARTY_PLUGINS) {
    try {
      const mod = (await import(specifier)) as { default?: unknown };
      // a workspace package that exports nothing yet is an unreleased plugin, not a broken one
      if (mod.default === undefined && Object.keys(mod).length === 0) continue;
      found.push(validatePluginObject(mod.default, specifier));
    } catch (error) {
      if (!isMissingModule(error, specifier)) throw error;
    }
  }
  // Dependencies first: repeatedly register plugins whose dependencies are present.
  const pending = [...found];
  while (pending.length > 0) {
    const ready = pending.findIndex((p) => Object.keys(p.meta.dependencies ?? {}).every((d) => kernel.registry.has(d)));
    const next = pending.splice(ready === -1 ? 0 : ready, 1)[0] as MethodPlugin;
    kernel.use(next);
  }
  const env = globalThis.process?.env?.PEFTKIT_PLUGINS ?? '';
  for (const specifier of [...env.split(',').filter(Boolean), ...extra]) await kernel.import(specifier);
  return { loaded: kernel.registry.list() };
}
