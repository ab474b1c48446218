import type { Tensor } from '@tensorflow/tfjs-core';
import type { Tf } from '../runtime/types.ts';

/**
 * Tensors a hook derives from its inputs once and reuses across the forwards of one generation (prefill and every
 * decode step see the same rows and adapters). Owned by the generation's KV cache and freed with it, so nothing
 * outlives a request batch. One entry per owner (e.g. a site's batcher), valid while its key matches.
 */
export class CallMemo {
  readonly #tf: Tf;
  readonly #entries = new Map<object, { key: readonly unknown[]; tensors: Tensor[] }>();

  constructor(tf: Tf) {
    this.#tf = tf;
  }

  /** The owner's tensors if they were stored under an identical key (compared element by element). */
  get(owner: object, key: readonly unknown[]): Tensor[] | undefined {
    const entry = this.#entries.get(owner);
    if (entry === undefined || entry.key.length !== key.length) return undefined;
    for (let i = 0; i < key.length; i++) if (entry.key[i] !== key[i]) return undefined;
    return entry.tensors;
  }

  /** Stores (and keeps beyond the current tidy scope) the owner's tensors, freeing what it stored before. */
  set(owner: object, key: readonly unknown[], tensors: Tensor[]): void {
    for (const t of this.#entries.get(owner)?.tensors ?? []) t.dispose();
    for (const t of tensors) this.#tf.keep(t);
    this.#entries.set(owner, { key: [...key], tensors });
  }

  clear(): void {
    for (const entry of this.#entries.values()) for (const t of entry.tensors) t.dispose();
    this.#entries.clear();
  }
}
