import { isPeftkitError, PeftkitError } from '@peftkit/io';
import type { HookName } from './contract.ts';

/**
 * Runs a plugin hook and re-throws anything it throws tagged with plugin, hook and adapter.
 * A PeftkitError keeps its code (so callers can still tell a missing tensor from a bad shape);
 * anything else becomes PEFTKIT_E_PLUGIN_HOOK with the original as `cause`.
 */
export function callHook<T>(plugin: string, hook: HookName, adapter: string, run: () => T): T {
  try {
    return run();
  } catch (error) {
    if (isPeftkitError(error) && error.details.plugin === plugin && error.details.hook === hook) throw error;
    const where = `${plugin}.${hook} (adapter '${adapter}')`;
    if (isPeftkitError(error)) {
      throw new PeftkitError(
        error.code,
        `${where}: ${error.message.replace(`${error.code}: `, '')}`,
        { ...error.details, plugin, hook, adapter },
        { cause: error },
      );
    }
    const message = error instanceof Error ? error.message : String(error);
    throw new PeftkitError('PEFTKIT_E_PLUGIN_HOOK', `${where} failed: ${message}`, { plugin, hook, adapter }, { cause: error });
  }
}
