import { PeftkitError } from '@peftkit/core';
import type { Entry } from './cache-entries.ts';
import { isValidAdapterName } from './paths.ts';

/**
 * The cache's lazy loads from the adapter root: one load per name at a time, and the names a request may not load
 * lazily, refused without touching the disk.
 */
export class LazyLoads {
  readonly #loading = new Map<string, Promise<Entry | undefined>>();
  /**
   * Names a lazy load found no directory for. An unknown `model` in every request would otherwise cost a disk
   * probe each time; forgotten when adapters are loaded, replaced or unloaded, or when the root is listed again.
   */
  readonly #missing = new Set<string>();
  /** Names unloaded explicitly: unknown (no lazy reload) until loaded again, as in vLLM (D9). */
  readonly #unloaded = new Set<string>();

  /** Joins the load of `name` under way, refuses a name known to be absent, or else runs `fromDisk`. */
  load(name: string, fromDisk: () => Promise<Entry | undefined>): Promise<Entry | undefined> {
    if (!isValidAdapterName(name)) {
      return Promise.reject(
        new PeftkitError('PEFTKIT_E_ADAPTER_UNKNOWN', `no adapter named '${name}'`, { adapter: name }),
      );
    }
    const pending = this.#loading.get(name);
    if (pending) return pending;
    if (this.#missing.has(name)) return Promise.reject(notUnderRoot(name));
    if (this.#unloaded.has(name)) {
      return Promise.reject(
        new PeftkitError('PEFTKIT_E_ADAPTER_UNKNOWN', `adapter '${name}' was unloaded; load it again to use it`, {
          adapter: name,
        }),
      );
    }
    const promise = fromDisk()
      .catch((error: unknown) => {
        if (error instanceof PeftkitError && error.code === 'PEFTKIT_E_ADAPTER_NOT_FOUND') {
          this.#missing.add(name);
          throw notUnderRoot(name);
        }
        throw error;
      })
      .finally(() => this.#loading.delete(name));
    this.#loading.set(name, promise);
    return promise;
  }

  /** An explicit load of `name` lifts an earlier unload: lazy loads may find it again. */
  loaded(name: string): void {
    this.#unloaded.delete(name);
  }

  unloaded(name: string): void {
    this.#unloaded.add(name);
  }

  forgetMissing(): void {
    this.#missing.clear();
  }
}

function notUnderRoot(name: string): PeftkitError {
  return new PeftkitError(
    'PEFTKIT_E_ADAPTER_UNKNOWN',
    `no adapter named '${name}' (not loaded, not under the adapter root)`,
    { adapter: name },
  );
}
