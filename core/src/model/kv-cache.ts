import type { Tensor4D } from '@tensorflow/tfjs-core';
import { backendHasKernels } from '../runtime/backend-kernels.ts';
import type { Tf } from '../runtime/types.ts';
import { CallMemo } from './memo.ts';

/**
 * Writes `update` [batch, heads, n, headDim] into `buffer` [batch, heads, columns, headDim] at time `offset`, in
 * place, and returns a tensor sharing the buffer (tensor platform adapters register it per backend). Only the KV
 * cache uses it, on buffers no other tensor reads.
 */
export const KV_WRITE_KERNEL = 'PeftkitKvWrite';

/** Key columns are reserved in steps of this many, so a decode step writes in place instead of copying the cache. */
const COLUMN_STEP = 64;

/**
 * Keys and values of past positions, per layer, in [batch, kvHeads, time, headDim] (keys already rotated).
 * Prefix-tuning prefixes are stored here too, at the front, after the first forward.
 * The cache owns its tensors; `dispose` frees them.
 *
 * Where the backend has KV_WRITE_KERNEL, each layer's tensors are buffers of `columns` positions (zeros past
 * `length`), new positions are written in place and attention reads the whole buffer, its mask covering the unused
 * columns. Elsewhere (or without it) each step concatenates, which copies the whole cache per layer per token.
 */
export class KvCache {
  readonly #tf: Tf;
  readonly #layers: ({ key: Tensor4D; value: Tensor4D } | null)[];
  readonly #inPlace: boolean;
  /** The buffers this cache made (written in place only by it). */
  readonly #buffers = new WeakSet<Tensor4D>();
  #columns = 0;
  /** Per row, 1 where a cached position may be attended to. */
  keyMask: number[][] = [];
  /** Per row, the position id the next token gets. */
  nextPosition: number[] = [];
  /** Number of cached positions (prefix included). */
  length = 0;
  /** What hooks derive once per generation (e.g. LoRA's stacked adapter rows); freed with the cache. */
  readonly memo: CallMemo;

  constructor(tf: Tf, numLayers: number) {
    this.#tf = tf;
    this.#layers = Array.from({ length: numLayers }, () => null);
    this.#inPlace = backendHasKernels(tf, KV_WRITE_KERNEL);
    this.memo = new CallMemo(tf);
  }

  get isEmpty(): boolean {
    return this.length === 0;
  }

  layer(i: number): { key: Tensor4D; value: Tensor4D } | null {
    return this.#layers[i] ?? null;
  }

  /**
   * The key columns attention reads in a forward that brings the cache to `total` positions: `total` itself when
   * each step concatenates, else the buffers' size, grown in steps. Call once per forward, before the layers.
   */
  reserve(total: number): number {
    if (!this.#inPlace) return total;
    if (total > this.#columns) this.#columns = Math.ceil(total / COLUMN_STEP) * COLUMN_STEP;
    return this.#columns;
  }

  /**
   * Adds layer `i`'s new keys and values [batch, kvHeads, n, headDim] after the `length` cached positions and returns
   * what attention reads: the whole cache of that layer (see `reserve`). Runs inside the caller's tidy.
   */
  append(i: number, key: Tensor4D, value: Tensor4D): { key: Tensor4D; value: Tensor4D } {
    const tf = this.#tf;
    const old = this.#layers[i] ?? null;
    if (!this.#inPlace) {
      const next = old
        ? { key: tf.concat([old.key, key], 2), value: tf.concat([old.value, value], 2) }
        : { key, value };
      this.setLayer(i, next.key, next.value);
      return next;
    }
    const columns = this.reserve(this.length + key.shape[2]);
    const into = (buffer: Tensor4D, update: Tensor4D, offset: number): Tensor4D => {
      const written = tf.engine().runKernel(KV_WRITE_KERNEL, { buffer, update }, { offset }) as Tensor4D;
      this.#buffers.add(written);
      return written;
    };
    const write = (stored: Tensor4D | undefined, update: Tensor4D): Tensor4D => {
      const [batch, heads, , dim] = update.shape;
      let buffer = stored;
      // Only buffers the cache made are written in place: a tensor given to setLayer may be read elsewhere.
      if (buffer === undefined || !this.#buffers.has(buffer)) {
        const fresh = tf.zeros([batch, heads, columns, dim]) as Tensor4D;
        buffer = buffer === undefined ? fresh : into(fresh, buffer, 0);
      } else if (buffer.shape[2] < columns) {
        buffer = tf.concat([buffer, tf.zeros([batch, heads, columns - buffer.shape[2], dim])], 2);
      }
      return into(buffer, update, this.length);
    };
    const next = { key: write(old?.key, key), value: write(old?.value, value) };
    this.setLayer(i, next.key, next.value);
    return next;
  }

  /** Replaces a layer's tensors; keeps the new ones alive beyond the current tidy scope and frees the old ones. */
  setLayer(i: number, key: Tensor4D, value: Tensor4D): void {
    const old = this.#layers[i];
    this.#layers[i] = { key: this.#tf.keep(key), value: this.#tf.keep(value) };
    if (old) {
      if (old.key !== key) old.key.dispose();
      if (old.value !== value) old.value.dispose();
    }
  }

  /** Keeps only the given batch rows (used when finished sequences leave a batched generation). */
  selectRows(rows: readonly number[]): void {
    const tf = this.#tf;
    this.memo.clear();
    for (let i = 0; i < this.#layers.length; i++) {
      const entry = this.#layers[i];
      if (!entry) continue;
      const index = tf.tensor1d(rows as number[], 'int32');
      this.setLayer(i, tf.gather(entry.key, index), tf.gather(entry.value, index));
      index.dispose();
    }
    this.keyMask = rows.map((r) => this.keyMask[r] as number[]);
    this.nextPosition = rows.map((r) => this.nextPosition[r] as number);
  }

  dispose(): void {
    for (const entry of this.#layers) {
      entry?.key.dispose();
      entry?.value.dispose();
    }
    this.#layers.fill(null);
    this.memo.clear();
    this.length = 0;
    this.#columns = 0;
    this.keyMask = [];
    this.nextPosition = [];
  }
}
