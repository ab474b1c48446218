import type { Tensor, Tensor3D, Tensor4D } from '@tensorflow/tfjs-core';
import { PeftkitError } from '@peftkit/io';
import type { Tf } from '@peftkit/core';
import { attentionMask, positionsFromMask } from './attention-mask.ts';
import { maskedSoftmax } from './masked-softmax.ts';
import type { ForwardCall, ModelDims, PrefixHook, PromptHook } from '@peftkit/core';
import type { HookTable } from '@peftkit/core';
import type { KvCache } from '@peftkit/core';
import { layerPrefixes, virtualTokens } from './prompt-inputs.ts';

/**
 * Pieces shared by the attention models (Llama, GPT-2, BERT): laying out one forward's sequence (virtual tokens,
 * per-layer prefixes, cache, positions, additive mask) and the multi-head attention product itself.
 */

export interface LayerPrefix {
  key: Tensor4D;
  value: Tensor4D;
  mask: number[][];
  lengths: number[];
}

export interface SequenceLayout {
  /** Embeddings with the rows' virtual tokens prepended: [batch, virtual + seq, hidden]. */
  hidden: Tensor3D;
  /** 0/1 per row over [virtual | real] tokens. */
  tokenMask: number[][];
  /** Virtual-token columns in front of the real tokens (0 without prompt hooks or on a warm cache). */
  virtualCount: number;
  /** Per layer prefixes (fresh calls only). */
  prefixes: (LayerPrefix | null)[];
  /** Mask of the keys before the new tokens: the prefix on a fresh call, the cache afterwards. */
  earlierMask: number[][];
  /** Position id of every new token (virtual ones included), counted over attended tokens only. */
  positions: number[][];
  next: number[];
  /** [batch, 1, 1, queries, keys] */
  additiveMask: Tensor;
}

export interface SequenceArgs {
  embeddings: Tensor3D;
  mask: number[][];
  prompts: HookTable<PromptHook>;
  prefixes: HookTable<PrefixHook>;
  call: ForwardCall;
  dims: ModelDims;
  cache: KvCache | undefined;
  causal: boolean;
}

/**
 * Prompts and prefixes only enter on a fresh call (an empty or absent cache): later calls find them in the
 * cache. Positions continue after each row's prefix length, as Hugging Face does with past_key_values.
 * Runs inside the caller's tidy.
 */
export function prepareSequence(tf: Tf, args: SequenceArgs): SequenceLayout {
  const { mask, call, dims, cache } = args;
  const fresh = cache === undefined || cache.isEmpty;
  let hidden = args.embeddings;
  let tokenMask = mask;
  let virtualCount = 0;
  if (fresh) {
    const prompt = virtualTokens(tf, args.prompts, call, dims.hiddenSize);
    if (prompt) {
      hidden = tf.concat([prompt.tensor, hidden], 1) as Tensor3D;
      tokenMask = mask.map((row, b) => [...(prompt.mask[b] as number[]), ...row]);
      virtualCount = prompt.mask[0]?.length ?? 0;
    }
  }
  // Prefixes are computed per layer but have the same per-row lengths in every layer.
  const prefixes = fresh
    ? Array.from({ length: dims.numLayers }, (_, i) =>
        layerPrefixes(tf, args.prefixes, call, i, dims.numKvHeads, dims.headDim),
      )
    : [];
  const firstPrefix = prefixes[0] ?? null;
  const earlierMask = !fresh ? cache.keyMask : (firstPrefix?.mask ?? []);
  const start = !fresh ? cache.nextPosition : (firstPrefix?.lengths ?? tokenMask.map(() => 0));
  const { positions, next } = positionsFromMask(tokenMask, start);
  // With a cache that writes in place, attention reads its whole buffer: the columns past the real keys are masked.
  const keys = (earlierMask[0]?.length ?? 0) + (tokenMask[0]?.length ?? 0);
  const additiveMask = attentionMask(tf, earlierMask, tokenMask, args.causal, cache?.reserve(keys) ?? keys);
  return { hidden, tokenMask, virtualCount, prefixes, earlierMask, positions, next, additiveMask };
}

/** Records the new tokens in the cache after all layers ran. */
export function commitCache(cache: KvCache | undefined, layout: SequenceLayout): void {
  if (!cache) return;
  const { tokenMask, earlierMask } = layout;
  cache.keyMask = tokenMask.map((row, b) => [...((earlierMask[b] as number[] | undefined) ?? []), ...row]);
  cache.nextPosition = layout.next;
  cache.length = cache.keyMask[0]?.length ?? 0;
}

/** Learned position tables have a fixed size: a position past it is an input error, not a silent zero row. */
export function checkPositions(positions: readonly (readonly number[])[], maxPositions: number): void {
  let max = -1;
  for (const row of positions) for (const p of row) if (p > max) max = p;
  if (max >= maxPositions) {
    throw new PeftkitError(
      'PEFTKIT_E_CONTEXT_LENGTH',
      `position ${max} is beyond the model's ${maxPositions} positions (virtual tokens included)`,
      {
        position: max,
        maxPositions,
      },
    );
  }
}

/** Token types (segment ids) shaped like ids, each in [0, limit); zeros when absent. */
export function tokenTypesOf(
  types: readonly (readonly number[])[] | undefined,
  batch: number,
  seq: number,
  limit: number,
): number[][] {
  if (types === undefined) return Array.from({ length: batch }, () => new Array<number>(seq).fill(0));
  const ok =
    types.length === batch &&
    types.every((row) => row.length === seq && row.every((t) => Number.isInteger(t) && t >= 0 && t < limit));
  if (!ok)
    throw new PeftkitError('PEFTKIT_E_INPUT', `token types must be integers in [0, ${limit}) shaped like ids`, {
      limit,
    });
  return types.map((row) => [...row]);
}

export interface AttentionArgs {
  /** [batch, seq, heads, headDim] (already rotated where the model rotates). */
  q: Tensor4D;
  /** [batch, seq, kvHeads, headDim] */
  k: Tensor4D;
  v: Tensor4D;
  mask: Tensor;
  prefix: { key: Tensor4D; value: Tensor4D } | null;
  cache: KvCache | undefined;
  layer: number;
  /** Multiplies the scores (1/√headDim in all supported models, GPT-2 options aside). */
  scale: number;
}

/**
 * Scaled dot-product attention with grouped KV heads, earlier keys (prefix or cache) in front of the new ones.
 * Returns the heads merged back: [batch, seq, heads · headDim]. Stores the layer's keys and values in the cache.
 */
export function multiHeadAttention(tf: Tf, args: AttentionArgs): Tensor3D {
  const { q, k, v, cache } = args;
  const [batch, seq, numHeads, headDim] = q.shape;
  const numKvHeads = k.shape[2];
  const group = numHeads / numKvHeads;
  // Query heads sharing a KV head are stacked along the time axis: one batched product per KV head, no KV copies.
  const qGrouped = tf.reshape(swapAxes12(tf, q), [batch, numKvHeads, group * seq, headDim]);
  let keys = swapAxes12(tf, k);
  let values = swapAxes12(tf, v);
  // A prefix enters on a fresh call only (prepareSequence passes none later): the cache holds it afterwards.
  if (args.prefix) {
    keys = tf.concat([args.prefix.key, keys], 2);
    values = tf.concat([args.prefix.value, values], 2);
  }
  if (cache) ({ key: keys, value: values } = cache.append(args.layer, keys, values));
  const probs = maskedSoftmax(tf, tf.matMul(qGrouped, keys, false, true), args.mask, args.scale, group);
  const context = tf.reshape(tf.matMul(probs, values), [batch, numHeads, seq, headDim]) as Tensor4D;
  return tf.reshape(swapAxes12(tf, context), [batch, seq, numHeads * headDim]) as Tensor3D;
}

/**
 * [a, b, c, d] → [a, c, b, d]. With b or c of 1 (a decoding step's single position) the memory order does not
 * change: a reshape, not a Transpose kernel copying the tensor (4 per layer and step).
 */
function swapAxes12(tf: Tf, t: Tensor4D): Tensor4D {
  const [a, b, c, d] = t.shape;
  return b === 1 || c === 1 ? tf.reshape(t, [a, c, b, d]) : tf.transpose(t, [0, 2, 1, 3]);
}
