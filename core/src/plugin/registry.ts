import semver from 'semver';
import { PeftkitError } from '@peftkit/io';
import type { MethodPlugin } from './contract.ts';
import { validatePluginObject } from './validate.ts';

/** Registered method plugins by name. Validates each plugin, its uniqueness and its dependencies. */
export class PluginRegistry {
  readonly #plugins = new Map<string, MethodPlugin>();
  #frozen = false;

  register(value: unknown, source?: string): MethodPlugin {
    if (this.#frozen)
      throw new PeftkitError(
        'PEFTKIT_E_REGISTRY_FROZEN',
        'the plugin registry is frozen; register plugins before the kernel serves',
        {},
      );
    const plugin = validatePluginObject(value, source);
    const { name, version, dependencies = {} } = plugin.meta;
    const existing = this.#plugins.get(name);
    if (existing !== undefined) {
      throw new PeftkitError(
        'PEFTKIT_E_PLUGIN_DUPLICATE',
        `a plugin named '${name}' is already registered (version ${existing.meta.version})`,
        {
          plugin: name,
          registered: existing.meta.version,
          incoming: version,
        },
      );
    }
    for (const [dep, range] of Object.entries(dependencies)) {
      const found = this.#plugins.get(dep);
      if (found === undefined) {
        throw new PeftkitError(
          'PEFTKIT_E_PLUGIN_DEPENDENCY',
          `plugin '${name}' needs plugin '${dep}' (${range}); register it first`,
          {
            plugin: name,
            dependency: dep,
            range,
          },
        );
      }
      if (!semver.satisfies(found.meta.version, range)) {
        throw new PeftkitError(
          'PEFTKIT_E_PLUGIN_DEPENDENCY',
          `plugin '${name}' needs '${dep}' ${range}, but ${found.meta.version} is registered`,
          {
            plugin: name,
            dependency: dep,
            range,
            found: found.meta.version,
          },
        );
      }
    }
    this.#plugins.set(name, plugin);
    return plugin;
  }

  get(name: string): MethodPlugin {
    const plugin = this.#plugins.get(name);
    if (plugin === undefined) {
      throw new PeftkitError(
        'PEFTKIT_E_PLUGIN_UNKNOWN',
        `no method plugin named '${name}'; registered: ${[...this.#plugins.keys()].join(', ') || '(none)'}`,
        {
          plugin: name,
        },
      );
    }
    return plugin;
  }

  has(name: string): boolean {
    return this.#plugins.has(name);
  }

  list(): MethodPlugin[] {
    return [...this.#plugins.values()];
  }

  freeze(): void {
    this.#frozen = true;
  }

  get frozen(): boolean {
    return this.#frozen;
  }
}
