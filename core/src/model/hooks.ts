import { PeftkitError } from '@peftkit/io';
import { currentHookOwner, tagHookError } from '../plugin/call-hook.ts';

/** Plugin name recorded for a hook attached outside any plugin lifecycle hook (tests, hand-wired hooks). */
const UNKNOWN_PLUGIN = '(unknown plugin)';

/**
 * Per-adapter hooks of one site. One hook per adapter name; attaching twice is a bug in the caller. Each entry
 * remembers the plugin that attached it, so errors thrown at forward time name plugin, adapter and site.
 */
export class HookTable<H> {
  readonly #hooks = new Map<string, { hook: H; plugin: string }>();
  readonly #owner: string;

  constructor(owner: string) {
    this.#owner = owner;
  }

  /** The site (or table) name the hooks belong to. */
  get site(): string {
    return this.#owner;
  }

  /** `plugin` defaults to the plugin whose inject/load is running (set by the AdapterManager). */
  attach(adapter: string, hook: H, options: { plugin?: string } = {}): void {
    if (this.#hooks.has(adapter)) {
      throw new PeftkitError(
        'PEFTKIT_E_ADAPTER_EXISTS',
        `adapter '${adapter}' already has a hook on '${this.#owner}'`,
        {
          adapter,
          site: this.#owner,
        },
      );
    }
    this.#hooks.set(adapter, { hook, plugin: options.plugin ?? currentHookOwner()?.plugin ?? UNKNOWN_PLUGIN });
  }

  detach(adapter: string): H | undefined {
    const entry = this.#hooks.get(adapter);
    this.#hooks.delete(adapter);
    return entry?.hook;
  }

  get(adapter: string): H | undefined {
    return this.#hooks.get(adapter)?.hook;
  }

  /** The plugin that attached `adapter`'s hook. */
  pluginOf(adapter: string): string | undefined {
    return this.#hooks.get(adapter)?.plugin;
  }

  /**
   * Calls `adapter`'s hook through `run` (undefined when it has none). Anything thrown comes out tagged
   * `{plugin, hook, adapter, site}` (PEFTKIT_E_PLUGIN_HOOK, or the original code of a PeftkitError).
   */
  call<T>(adapter: string, hook: string, run: (h: H) => T): T | undefined {
    const entry = this.#hooks.get(adapter);
    if (entry === undefined) return undefined;
    try {
      return run(entry.hook);
    } catch (error) {
      return tagHookError(error, { plugin: entry.plugin, hook, adapter, site: this.#owner });
    }
  }

  has(adapter: string): boolean {
    return this.#hooks.has(adapter);
  }

  get size(): number {
    return this.#hooks.size;
  }

  adapters(): string[] {
    return [...this.#hooks.keys()];
  }
}
