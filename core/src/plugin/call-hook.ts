import { isPeftkitError, PeftkitError } from '@peftkit/io';
import type { HookName } from './contract.ts';

/** Who a hook belongs to: the plugin and the adapter it acts for. */
export interface HookOwner {
  readonly plugin: string;
  readonly adapter: string;
}

/** Where a hook ran; `site` is set for forward-time hooks on a model site (or 'prompts' / 'prefixes'). */
export interface HookWhere extends HookOwner {
  readonly hook: string;
  readonly site?: string;
}

// The plugin whose lifecycle hook is running. Hooks attach synchronously inside inject/load, so a HookTable can
// record their owner without plugins passing it (and third-party plugins need no change).
let running: HookOwner | null = null;

/** The owner of the lifecycle hook running now, or null outside one. */
export function currentHookOwner(): HookOwner | null {
  return running;
}

/**
 * Re-throws `error` tagged with where it happened. A PeftkitError keeps its code (so callers can still tell a
 * missing tensor from a bad shape); anything else becomes PEFTKIT_E_PLUGIN_HOOK with the original as `cause`.
 */
export function tagHookError(error: unknown, where: HookWhere): never {
  const { plugin, hook, adapter, site } = where;
  if (isPeftkitError(error) && error.details.plugin === plugin && error.details.hook === hook) throw error;
  const place = site === undefined ? `adapter '${adapter}'` : `adapter '${adapter}', site '${site}'`;
  const prefix = `${plugin}.${hook} (${place})`;
  const details = site === undefined ? { plugin, hook, adapter } : { plugin, hook, adapter, site };
  if (isPeftkitError(error)) {
    throw new PeftkitError(
      error.code,
      `${prefix}: ${error.message.replace(`${error.code}: `, '')}`,
      { ...error.details, ...details },
      { cause: error },
    );
  }
  const message = error instanceof Error ? error.message : String(error);
  throw new PeftkitError('PEFTKIT_E_PLUGIN_HOOK', `${prefix} failed: ${message}`, details, { cause: error });
}

/** Runs a plugin lifecycle hook; anything it throws is re-thrown tagged with plugin, hook and adapter. */
export function callHook<T>(plugin: string, hook: HookName, adapter: string, run: () => T): T {
  const outer = running;
  running = { plugin, adapter };
  try {
    return run();
  } catch (error) {
    return tagHookError(error, { plugin, hook, adapter });
  } finally {
    running = outer;
  }
}
