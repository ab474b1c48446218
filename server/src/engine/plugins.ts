import type { Kernel, MethodPlugin } from '@peftkit/core';
import { validatePluginObject } from '@peftkit/core';

/**
 * Registers method plugins for serving. Unlike the CLI loader, a plugin that fails to import (not installed, or
 * broken) is skipped with a warning: the server still serves every method that did load.
 */
export async function loadServerPlugins(kernel: Kernel, specifiers: readonly string[]): Promise<string[]> {
  const found: MethodPlugin[] = [];
  for (const specifier of specifiers) {
    try {
      const mod = (await import(specifier)) as { default?: unknown; plugin?: unknown };
      found.push(validatePluginObject(mod.default ?? mod.plugin, specifier));
    } catch (error) {
      console.warn(`peftkit server: method plugin '${specifier}' not loaded: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`);
    }
  }
  // Dependencies first; a plugin whose dependencies never appear is skipped.
  const pending = [...found];
  let progress = true;
  while (pending.length > 0 && progress) {
    progress = false;
    for (let i = 0; i < pending.length; i++) {
      const p = pending[i] as MethodPlugin;
      if (!Object.keys(p.meta.dependencies ?? {}).every((d) => kernel.registry.has(d))) continue;
      pending.splice(i--, 1);
      progress = true;
      try {
        if (!kernel.registry.has(p.meta.name)) kernel.use(p);
      } catch (error) {
        console.warn(`peftkit server: method plugin '${p.meta.name}' rejected: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }
  for (const p of pending) console.warn(`peftkit server: method plugin '${p.meta.name}' skipped: missing dependencies`);
  return kernel.registry.list().map((p) => p.meta.name);
}
