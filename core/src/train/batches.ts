import { epochOrder } from './split.ts';

/** Where the loop is in the data: epoch number and the next example index within that epoch's order. */
export interface DataPosition {
  readonly epoch: number;
  readonly cursor: number;
}

/** Example indices in the order epoch `epoch` visits them (the data package's seeded per-epoch permutation). */
function orderOf(count: number, seed: number, epoch: number, shuffle: boolean): number[] {
  return shuffle ? epochOrder(count, seed, epoch) : Array.from({ length: count }, (_, i) => i);
}

/**
 * Micro-batches of example indices, epoch after epoch, in `epochOrder(count, seed, epoch)` order (a pure function,
 * so a resumed run regenerates it from the saved epoch and cursor). The last micro-batch of an epoch may be smaller
 * (transformers' dataloader_drop_last=false); the next one starts the following epoch with a fresh permutation.
 */
export class BatchStream {
  readonly #count: number;
  readonly #batchSize: number;
  readonly #seed: number;
  readonly #shuffle: boolean;
  #position: DataPosition;
  #order: number[];

  constructor(
    count: number,
    batchSize: number,
    seed: number,
    shuffle: boolean,
    start: DataPosition = { epoch: 0, cursor: 0 },
  ) {
    this.#count = count;
    this.#batchSize = batchSize;
    this.#seed = seed;
    this.#shuffle = shuffle;
    this.#position = start.cursor >= count ? { epoch: start.epoch + 1, cursor: 0 } : start;
    this.#order = orderOf(count, seed, this.#position.epoch, shuffle);
  }

  get position(): DataPosition {
    return this.#position;
  }

  /** Indices of the next micro-batch; advances the position. */
  next(): number[] {
    const { epoch, cursor } = this.#position;
    const indices = this.#order.slice(cursor, cursor + this.#batchSize);
    const end = cursor + indices.length;
    if (end >= this.#count) {
      this.#position = { epoch: epoch + 1, cursor: 0 };
      this.#order = orderOf(this.#count, this.#seed, epoch + 1, this.#shuffle);
    } else {
      this.#position = { epoch, cursor: end };
    }
    return indices;
  }
}

/** Optimizer steps for `epochs` passes: ceil(epochs · micro-batches per epoch / gradAccum). */
export function stepsForEpochs(count: number, batchSize: number, gradAccum: number, epochs: number): number {
  return Math.max(1, Math.ceil((epochs * Math.ceil(count / batchSize)) / gradAccum));
}
