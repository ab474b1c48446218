import type { Version } from './cache-versions.ts';
import type { AdapterInfo } from './types.ts';

export interface Entry {
  readonly name: string;
  readonly current: Version;
  pinned: boolean;
  lastUsed: number;
  source: string;
  /** Public names a merged (combined) adapter was built from: swapping one of them invalidates it. */
  readonly sources: readonly string[];
  /** Installed by a load / PUT, not lazily: only such an entry makes a later load without `replace` a conflict. */
  explicit?: boolean;
}

/**
 * The loaded adapters by public name, with their byte total and use order. The total is kept as entries come and
 * go: every request's release compares it with the budget, so it must not cost a pass over all loaded adapters.
 */
export class EntryTable {
  readonly #entries = new Map<string, Entry>();
  #bytes = 0;
  #clock = 0;

  get size(): number {
    return this.#entries.size;
  }

  /** Bytes of the current versions of all entries. */
  get bytes(): number {
    return this.#bytes;
  }

  get(name: string): Entry | undefined {
    return this.#entries.get(name);
  }

  has(name: string): boolean {
    return this.#entries.has(name);
  }

  values(): IterableIterator<Entry> {
    return this.#entries.values();
  }

  /** The next tick of the use clock (lastUsed of a new entry). */
  tick(): number {
    return ++this.#clock;
  }

  /** Marks `entry` as the most recently used. */
  touch(entry: Entry): void {
    entry.lastUsed = ++this.#clock;
  }

  /** Puts `entry` under its name; returns the entry it replaced. */
  set(entry: Entry): Entry | undefined {
    const old = this.delete(entry.name);
    this.#entries.set(entry.name, entry);
    this.#bytes += entry.current.bytes;
    return old;
  }

  delete(name: string): Entry | undefined {
    const old = this.#entries.get(name);
    if (old === undefined) return undefined;
    this.#entries.delete(name);
    this.#bytes -= old.current.bytes;
    return old;
  }

  clear(): void {
    this.#entries.clear();
    this.#bytes = 0;
  }

  /** The least recently used entry other than `keep` that is neither pinned nor in use: the next to evict. */
  leastRecentIdle(keep: string): Entry | undefined {
    let victim: Entry | undefined;
    for (const e of this.#entries.values()) {
      if (e.name === keep || e.pinned || e.current.refs > 0) continue;
      if (victim === undefined || e.lastUsed < victim.lastUsed) victim = e;
    }
    return victim;
  }
}

/** What the admin API and /v1/models say about an entry. */
export function entryInfo(entry: Entry): AdapterInfo {
  const v = entry.current;
  return {
    name: entry.name,
    method: v.record.plugin.meta.name,
    pluginVersion: v.record.plugin.meta.version,
    parameters: v.parameters,
    bytes: v.bytes,
    version: v.version,
    pinned: entry.pinned,
    inFlight: v.refs,
    source: entry.source,
  };
}
