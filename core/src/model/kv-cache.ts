import type { Tensor4D } from '@tensorflow/tfjs-core';
import type { Tf } from '../runtime/types.ts';
import { CallMemo } from './memo.ts';

/**
 * Keys and values of past positions, per layer, in [batch, kvHeads, time, headDim] (keys already rotated).
 * Prefix-tuning prefixes are stored here too, at the front, after the first forward.
 * The cache owns its tensors; `dispose` frees them.
 */
export class KvCache {
  readonly #tf: Tf;
  readonly #layers: ({ key: Tensor4D; value: Tensor4D } | null)[];
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
    this.memo = new CallMemo(tf);
  }

  get isEmpty(): boolean {
    return this.length === 0;
  }

  layer(i: number): { key: Tensor4D; value: Tensor4D } | null {
    return this.#layers[i] ?? null;
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
    this.keyMask = [];
    this.nextPosition = [];
  }
}
