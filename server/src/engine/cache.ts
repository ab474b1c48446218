import { type AdapterManager, PeftkitError, type Tf } from '@peftkit/core';
import { type Entry, EntryTable, entryInfo } from './cache-entries.ts';
import { LazyLoads } from './cache-lazy-loads.ts';
import {
  assertFiniteCombination,
  loadVersion,
  mergedName,
  UpdateOrder,
  type Version,
  versionOf,
} from './cache-versions.ts';
import { assertPublicName } from './paths.ts';
import type { AdapterInfo, LoadAdapterOptions, MergedAdapters } from './types.ts';

/** A request's hold on one adapter version; release exactly once when the request ends. */
export interface Lease {
  readonly internal: string;
  readonly label: string;
  readonly mixedBatch: boolean;
  release(): void;
}

export interface AdapterCacheOptions {
  root: string;
  budgetBytes: number;
  /** Largest weights file read, checked before reading (default: the budget; never above 2 GiB - 1). */
  maxFileBytes?: number;
  /** Highest LoRA rank accepted (vLLM's --max-lora-rank); 0 or absent: any. */
  maxRank?: number;
  /** Most adapters loaded at once (vLLM's --max-cpu-loras); 0 or absent: only the byte budget limits them. */
  maxLoaded?: number;
  /** First version number (a restarted worker continues its predecessor's numbering, so labels never repeat). */
  firstVersion?: number;
}

/**
 * Loaded adapters: versioned (a replace loads the new version next to the old one, which lives until its last
 * request releases it), byte-budgeted LRU eviction of unpinned idle adapters, lazy loading from the adapter root.
 */
export class AdapterCache {
  readonly #manager: AdapterManager;
  readonly #tf: Tf;
  readonly #options: AdapterCacheOptions;
  readonly #entries = new EntryTable();
  readonly #lazy = new LazyLoads();
  /** Linearizable updates (D4): see UpdateOrder. */
  readonly #order = new UpdateOrder();
  #nextVersion: number;
  swaps = 0;
  evictions = 0;
  /** Lazy loads that went to disk (the negative cache keeps repeated unknown names off it). */
  diskProbes = 0;

  constructor(manager: AdapterManager, tf: Tf, options: AdapterCacheOptions) {
    this.#manager = manager;
    this.#tf = tf;
    this.#options = options;
    this.#nextVersion = options.firstVersion ?? 1;
  }

  /** The version number the next load gets (a restarted engine starts from it). */
  get nextVersion(): number {
    return this.#nextVersion;
  }

  /** False when an update that began after `ticket` already took effect (or, for a lazy load, any version is in). */
  #mayInstall(name: string, ticket: number, lazy: boolean): boolean {
    if (!this.#order.current(name, ticket)) return false;
    return !(lazy && this.#entries.has(name));
  }

  get loadedCount(): number {
    return this.#entries.size;
  }

  get totalBytes(): number {
    return this.#entries.bytes;
  }

  /** Holds the current version of `name`, loading it from the root first when it is not loaded. */
  async acquire(name: string): Promise<Lease> {
    // Re-read the map after every await: a concurrent load, replace or unload may have changed the current version
    // meanwhile, and a lease must only ever be taken on a current (never a retired, maybe disposed) version.
    for (let attempt = 0; attempt < 3; attempt++) {
      const entry = this.#entries.get(name);
      if (entry) return this.#lease(entry);
      await this.#lazyLoad(name);
    }
    throw new PeftkitError('PEFTKIT_E_ADAPTER_UNKNOWN', `adapter '${name}' was unloaded while loading`, {
      adapter: name,
    });
  }

  #lease(entry: Entry): Lease {
    const version = entry.current;
    if (version.retired)
      throw new PeftkitError('PEFTKIT_E_INTERNAL', `internal: lease on retired version ${version.internal}`, {});
    version.refs++;
    this.#entries.touch(entry);
    let released = false;
    return {
      internal: version.internal,
      label: `${entry.name}@v${version.version}`,
      mixedBatch: version.record.plugin.capabilities.mixedBatch,
      release: () => {
        if (released) return;
        released = true;
        version.refs--;
        if (version.retired && version.refs === 0) this.#manager.delete(version.internal);
        // Idle now: give bytes back at once when over budget, not only at the next load (D13).
        else if (version.refs === 0 && this.totalBytes > this.#options.budgetBytes) this.#evict('');
      },
    };
  }

  #lazyLoad(name: string): Promise<Entry | undefined> {
    return this.#lazy.load(name, () => {
      this.diskProbes++;
      const ticket = this.#order.next();
      return this.#loadVersion(name, name).then((version) => {
        if (this.#mayInstall(name, ticket, true)) return this.#install(name, version, name, false);
        // Superseded by a load or unload acknowledged meanwhile: acquire() re-reads the map.
        this.#manager.delete(version.internal);
        return this.#entries.get(name);
      });
    });
  }

  #loadVersion(name: string, path: string): Promise<Version> {
    const version = this.#nextVersion++;
    return loadVersion(this.#manager, this.#tf, this.#options, path, `${name}.v${version}`, version);
  }

  /** With --max-loras, a new name needs a free slot: the least recently used idle one is evicted, else 503. */
  #reserveSlot(name: string, version: Version): void {
    const max = this.#options.maxLoaded ?? 0;
    if (max <= 0 || this.#entries.has(name) || this.#entries.size < max) return;
    const victim = this.#entries.leastRecentIdle(name);
    if (victim === undefined) {
      this.#manager.delete(version.internal);
      throw new PeftkitError(
        'PEFTKIT_E_ADAPTER_SLOTS',
        `all ${max} adapter slots are in use (--max-loras); retry later`,
        { limit: max },
      );
    }
    this.#drop(victim);
  }

  #drop(victim: Entry): void {
    this.#entries.delete(victim.name);
    this.#retire(victim.current);
    this.#dropDependents(victim.name);
    this.evictions++;
  }

  /** Makes `version` the current one of `name`, retiring what it replaces, then evicts down to the budget. */
  #install(name: string, version: Version, source: string, pinned: boolean, sources: readonly string[] = []): Entry {
    this.#reserveSlot(name, version);
    const old = this.#entries.get(name);
    const keepPin = pinned || (old?.pinned ?? false);
    const entry: Entry = { name, current: version, pinned: keepPin, lastUsed: this.#entries.tick(), source, sources };
    this.#entries.set(entry);
    if (old) {
      this.swaps++;
      this.#retire(old.current);
      this.#dropDependents(name);
    }
    this.#evict(name);
    return entry;
  }

  #retire(version: Version): void {
    version.retired = true;
    if (version.refs === 0) this.#manager.delete(version.internal);
  }

  /** Combined adapters built from `name` would silently use its old weights: drop them (rebuilt on next use). */
  #dropDependents(name: string): void {
    for (const e of [...this.#entries.values()]) {
      if (e.sources.includes(name)) {
        this.#entries.delete(e.name);
        this.#retire(e.current);
      }
    }
  }

  #evict(keep: string): void {
    const budget = this.#options.budgetBytes;
    while (this.totalBytes > budget) {
      const victim = this.#entries.leastRecentIdle(keep);
      // Everything left is pinned or busy: over budget until a request releases one (then evicted at once).
      if (victim === undefined) return;
      this.#drop(victim);
    }
  }

  /** Loads (or with `replace`, hot-swaps) an adapter from a directory under the root. */
  async load(name: string, options: LoadAdapterOptions = {}): Promise<AdapterInfo> {
    assertPublicName(name);
    // A lazily loaded entry is an implementation detail: an explicit load adopts it instead of conflicting (D9).
    if (this.#entries.get(name)?.explicit && !options.replace) {
      throw new PeftkitError(
        'PEFTKIT_E_ADAPTER_EXISTS',
        `adapter '${name}' is already loaded (replace it with load_inplace / PUT)`,
        { adapter: name },
      );
    }
    const source = options.path ?? name;
    const ticket = this.#order.next();
    // The new version is fully loaded before anything changes: a failed load leaves the old one serving.
    const version = await this.#loadVersion(name, source);
    if (!this.#mayInstall(name, ticket, false)) {
      // A later update took effect first: this one is ordered before it (its answer describes what it loaded).
      const pinned = options.pin ?? false;
      const info = entryInfo({ name, current: version, pinned, lastUsed: 0, source, sources: [] });
      this.#manager.delete(version.internal);
      return info;
    }
    this.#order.applied(name, ticket);
    const entry = this.#install(name, version, source, options.pin ?? false);
    entry.explicit = true;
    this.#lazy.loaded(name);
    this.forgetMissing();
    return entryInfo(entry);
  }

  unload(name: string): void {
    const entry = this.#entries.get(name);
    if (entry === undefined)
      throw new PeftkitError('PEFTKIT_E_ADAPTER_UNKNOWN', `no adapter named '${name}' is loaded`, { adapter: name });
    this.#order.applied(name, this.#order.next());
    this.#lazy.unloaded(name);
    this.#entries.delete(name);
    this.swaps++;
    this.#retire(entry.current);
    this.#dropDependents(name);
    this.forgetMissing();
  }

  /** Drops the negative probe cache: the next request for any unknown name looks at the disk again. */
  forgetMissing(): void {
    this.#lazy.forgetMissing();
  }

  /**
   * A weighted combination of loaded adapters, cached under a name derived from its recipe. Built by the `combine`
   * hook of the plugin owning the adapters' method (PEFTKIT_E_MERGE_UNSUPPORTED when it has none).
   */
  async acquireMerged(merged: MergedAdapters): Promise<Lease> {
    const name = mergedName(merged);
    const existing = this.#entries.get(name);
    if (existing) return this.#lease(existing);
    const leases: Lease[] = [];
    try {
      for (const id of merged.ids) leases.push(await this.acquire(id));
      const internal = `${name}.v${this.#nextVersion}`;
      const version = this.#nextVersion++;
      const record = this.#manager.combine(
        internal,
        leases.map((l, i) => ({ adapter: l.internal, weight: merged.weights[i] as number })),
        {
          strategy: merged.strategy,
          ...(merged.density !== undefined ? { density: merged.density } : {}),
          ...(merged.majoritySignMethod !== undefined ? { majoritySignMethod: merged.majoritySignMethod } : {}),
        },
      );
      assertFiniteCombination(this.#manager, internal);
      return this.#lease(
        this.#install(name, versionOf(this.#manager, record, version), 'merged', false, [...merged.ids]),
      );
    } finally {
      for (const l of leases) l.release();
    }
  }

  list(): AdapterInfo[] {
    return [...this.#entries.values()].map((e) => entryInfo(e));
  }

  has(name: string): boolean {
    return this.#entries.has(name);
  }

  dispose(): void {
    for (const e of this.#entries.values()) this.#retire(e.current);
    this.#entries.clear();
  }
}
