import type { Tensor2D, Tensor3D } from '@tensorflow/tfjs-core';
import type { Tf } from '../runtime/types.ts';
import type { Rng } from '../util/rng.ts';
import { PeftkitError } from '@peftkit/io';
import type { AdapterSelection, ModelGraph } from './graph.ts';
import type { KvCache } from './kv-cache.ts';

/** Token ids of a rectangular batch, with an optional 0/1 attention mask of the same shape (left padding). */
export interface ForwardInput {
  readonly ids: readonly (readonly number[])[];
  readonly mask?: readonly (readonly number[])[];
  /** Segment ids (BERT token_type_ids). */
  readonly tokenTypes?: readonly (readonly number[])[];
}

export interface ForwardOptions {
  readonly selection?: AdapterSelection;
  readonly training?: boolean;
  /** Dropout randomness while training. */
  readonly rng?: Rng | null;
  /** Decoder KV cache: filled on the first call, extended by later ones. */
  readonly cache?: KvCache;
  /**
   * Causal LMs: return the logits of the last position only ([batch, 1, vocab]). Generation needs no more, and
   * skipping the head on the other positions saves most of a prefill with a large vocabulary.
   */
  readonly lastPosition?: boolean;
}

/** hidden [batch, seq, d] → its last position [batch, 1, d] when `lastPosition` is asked for. Inside a tidy. */
export function selectLastPosition(tf: Tf, hidden: Tensor3D, options: ForwardOptions): Tensor3D {
  const seq = hidden.shape[1];
  return options.lastPosition === true && seq > 1 ? tf.slice(hidden, [0, seq - 1, 0], [-1, 1, -1]) : hidden;
}

/** Checks that the batch is rectangular and ids are in range; returns the mask (all ones when absent). */
export function validateInput(
  input: ForwardInput,
  vocabSize: number,
): { batch: number; seq: number; mask: number[][] } {
  const batch = input.ids.length;
  if (batch === 0) throw new PeftkitError('PEFTKIT_E_INPUT', 'empty batch', {});
  const seq = input.ids[0]?.length ?? 0;
  if (seq === 0) throw new PeftkitError('PEFTKIT_E_INPUT', 'empty sequence', {});
  for (const [b, row] of input.ids.entries()) {
    if (row.length !== seq)
      throw new PeftkitError('PEFTKIT_E_INPUT', `row ${b} has ${row.length} tokens, expected ${seq} (pad the batch)`, {
        row: b,
      });
    for (const id of row) {
      if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
        throw new PeftkitError(
          'PEFTKIT_E_INPUT',
          `token id ${id} in row ${b} is outside the vocabulary (size ${vocabSize})`,
          { row: b, id },
        );
      }
    }
  }
  const mask = input.mask ? input.mask.map((row) => [...row]) : input.ids.map((row) => row.map(() => 1));
  if (mask.length !== batch || mask.some((row) => row.length !== seq || row.some((m) => m !== 0 && m !== 1))) {
    throw new PeftkitError('PEFTKIT_E_INPUT', 'attention mask must be a 0/1 matrix shaped like ids', {});
  }
  return { batch, seq, mask };
}

/** Index of the last attended position of each row (sequence classification pooling for decoders). */
export function lastRealIndex(mask: readonly (readonly number[])[]): number[] {
  return mask.map((row) => {
    for (let i = row.length - 1; i >= 0; i--) if (row[i] === 1) return i;
    return row.length - 1;
  });
}

/** A model graph that can run: what training, evaluation and the server need from an architecture. */
export type LoadedModelGraph = ModelGraph & {
  forward?(input: ForwardInput, options?: ForwardOptions): Tensor3D;
  classify(input: ForwardInput, options?: ForwardOptions): Tensor2D;
  createCache?(): KvCache;
};
