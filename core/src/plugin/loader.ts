/**
 * The one plugin loader, behind `kernel.import` / `kernel.importAll`, used by the library, the CLI and the server:
 * resolve the specifier from the user's project, import it, validate its default (or `plugin`) export.
 */
import { PeftkitError } from '@peftkit/io';
import type { MethodPlugin } from './contract.ts';
import { baseDirectory, resolvePluginSpecifier } from './resolve.ts';
import { validatePluginObject } from './validate.ts';

export interface PluginImportOptions {
  /**
   * Where bare names and relative paths are resolved from: a directory, or a module's file or URL
   * (`import.meta.url`). Default: the current working directory — the user's project.
   */
  from?: string | URL;
}

export interface PluginImportAllOptions extends PluginImportOptions {
  /** Called with each plugin that cannot be imported or registered; without it the first such error is thrown. */
  onError?: (specifier: string, error: PeftkitError) => void;
}

/** Why an import failed, in PEFTKIT_E_PLUGIN_IMPORT's details: the CLI skips first-party plugins that are absent. */
export type PluginImportFailure = 'not-found' | 'import-failed' | 'empty';

const firstLine = (error: unknown) => (error instanceof Error ? error.message : String(error)).split('\n')[0] as string;

/**
 * Imports and validates a plugin module (does not register it). Throws PEFTKIT_E_PLUGIN_IMPORT / _INVALID / _VERSION.
 */
export async function importPlugin(specifier: string, options: PluginImportOptions = {}): Promise<MethodPlugin> {
  const resolved = resolvePluginSpecifier(specifier, options.from);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(resolved.url)) as Record<string, unknown>;
  } catch (error) {
    // A bare name found in no node_modules above `from` was tried from core's own location (the old behaviour, and
    // where import maps or a global install put packages); if that failed too, say where we looked.
    const where = resolved.found ? '' : ` (not found in node_modules above ${baseDirectory(options.from)})`;
    const reason: PluginImportFailure = resolved.found ? 'import-failed' : 'not-found';
    throw new PeftkitError(
      'PEFTKIT_E_PLUGIN_IMPORT',
      `cannot import plugin '${specifier}'${where}: ${firstLine(error)}`,
      { specifier, reason },
      { cause: error },
    );
  }
  const candidate = mod.default ?? mod.plugin;
  if (candidate === undefined) {
    const reason: PluginImportFailure = 'empty';
    throw new PeftkitError('PEFTKIT_E_PLUGIN_INVALID', `'${specifier}' has no default export (or 'plugin' export)`, {
      specifier,
      reason,
    });
  }
  return validatePluginObject(candidate, specifier);
}

const asPeftkitError = (error: unknown, specifier: string): PeftkitError =>
  error instanceof PeftkitError
    ? error
    : new PeftkitError(
        'PEFTKIT_E_PLUGIN_IMPORT',
        `plugin '${specifier}': ${firstLine(error)}`,
        { specifier },
        { cause: error },
      );

/**
 * Imports every specifier, then hands the plugins to `register` dependencies first (a plugin whose dependencies
 * never appear is reported as PEFTKIT_E_PLUGIN_DEPENDENCY). A plugin object already registered is skipped.
 */
export async function importPlugins(
  specifiers: readonly string[],
  options: PluginImportAllOptions,
  registry: {
    has(name: string): boolean;
    get(name: string): MethodPlugin;
    register(plugin: unknown, source?: string): MethodPlugin;
  },
): Promise<MethodPlugin[]> {
  const fail = (specifier: string, error: unknown) => {
    const coded = asPeftkitError(error, specifier);
    if (options.onError === undefined) throw coded;
    options.onError(specifier, coded);
  };
  const pending: { specifier: string; plugin: MethodPlugin }[] = [];
  for (const specifier of specifiers) {
    try {
      pending.push({ specifier, plugin: await importPlugin(specifier, options) });
    } catch (error) {
      fail(specifier, error);
    }
  }
  const registered: MethodPlugin[] = [];
  let progress = true;
  while (pending.length > 0 && progress) {
    progress = false;
    for (let i = 0; i < pending.length; i++) {
      const { specifier, plugin } = pending[i] as (typeof pending)[number];
      if (!Object.keys(plugin.meta.dependencies ?? {}).every((d) => registry.has(d))) continue;
      pending.splice(i--, 1);
      progress = true;
      // the same module listed twice (PEFTKIT_PLUGINS and --plugin): once is
      // enough; another plugin of that name clashes
      if (registry.has(plugin.meta.name) && registry.get(plugin.meta.name) === plugin) continue;
      try {
        registered.push(registry.register(plugin, specifier));
      } catch (error) {
        fail(specifier, error);
      }
    }
  }
  for (const { specifier, plugin } of pending) {
    const missing = Object.keys(plugin.meta.dependencies ?? {}).filter((d) => !registry.has(d));
    const message =
      `plugin '${plugin.meta.name}' needs plugin(s) ` +
      `${missing.map((d) => `'${d}'`).join(', ')}, which are not installed`;
    fail(specifier, new PeftkitError('PEFTKIT_E_PLUGIN_DEPENDENCY', message, { plugin: plugin.meta.name, missing }));
  }
  return registered;
}
