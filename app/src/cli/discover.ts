import { resolve } from 'node:path';
import type { Kernel, MethodPlugin, PeftkitError } from '@peftkit/core';
import { isPathSpecifier } from '@peftkit/core';
import { readProjectConfig } from './project.ts';

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

/** A first-party package that is not installed (or an unreleased one exporting nothing) is skipped, not an error. */
const isAbsent = (error: PeftkitError) => error.details.reason === 'not-found' || error.details.reason === 'empty';

/**
 * Third-party specifiers for this run: the project config's (peftkit.config.json / package.json "peftkit"), then
 * PEFTKIT_PLUGINS (comma-separated), then --plugin. With `absolute`, relative paths become absolute against `cwd`,
 * so that a worker, or any module resolving them later, finds the same files (error messages keep the user's form).
 */
export function pluginSpecifiers(
  extra: readonly string[] = [],
  options: { cwd?: string; absolute?: boolean } = {},
): string[] {
  const cwd = options.cwd ?? process.cwd();
  const env = (globalThis.process?.env?.PEFTKIT_PLUGINS ?? '').split(',').map((s) => s.trim());
  const all = [...readProjectConfig(cwd).plugins, ...env, ...extra].filter(Boolean);
  return [...new Set(all.map((s) => (options.absolute && isPathSpecifier(s) ? resolve(cwd, s) : s)))];
}

/**
 * Registers every installed first-party plugin (resolved from this package, as shipped) and the third-party ones of
 * pluginSpecifiers() (resolved from the user's working directory), all through kernel.importAll, dependencies first.
 */
export async function loadPlugins(kernel: Kernel, extra: readonly string[] = []): Promise<{ loaded: MethodPlugin[] }> {
  await kernel.importAll(FIRST_PARTY_PLUGINS, {
    from: import.meta.url,
    onError: (_specifier, error) => {
      if (!isAbsent(error)) throw error;
    },
  });
  await kernel.importAll(pluginSpecifiers(extra), { from: process.cwd() });
  return { loaded: kernel.registry.list() };
}
